"""Find the pauses in a spoken recording and cut them out: detection, thresholds and the entry points."""

from collections.abc import Callable
from pathlib import Path

import numpy as np

from jobs.containers import output_container
from jobs.cutlist import CutList
from jobs.errors import MediaError
from jobs.mediainfo import MediaInfo
from jobs.probe import probe
from jobs.progress import Progress, ignore, part
from jobs.render import make_cut
from jobs.sound import SOUND_RATE, mono_chunks

NO_AUDIO = "This file has no sound to find pauses in. Upload a recording with an audio track."
TOO_SHORT = "This recording is too short to remove pauses from (it lasts under half a second)."
ALL_SILENT = (
    "This recording is silent from start to end, so removing the pauses would leave nothing. "
    "Check that the microphone was on, or upload a recording with speech in it."
)
NOTHING_LOUD = (
    "Nothing in this recording is louder than the {threshold:g} dBFS threshold, so removing the "
    "pauses would leave nothing. Choose a lower threshold or use automatic detection."
)

# Loudness is measured on a modest mono copy of the sound: plenty for telling speech from pauses.
DETECT_RATE = SOUND_RATE
FRAME_SECONDS = 0.01
FRAME_SAMPLES = int(DETECT_RATE * FRAME_SECONDS)
CHUNK_FRAMES = 1000  # 10 s of sound per read, whatever the length of the recording
FLOOR_DB = -100.0  # the level given to digital silence
SHORTEST_INPUT = 0.5
# A kept clip shorter than this between two pauses is a click or a breath, not speech.
SHORTEST_KEEP = 0.2
# A cut shorter than this saves nothing worth a join.
SHORTEST_CUT = 0.05
# "auto": the noise floor and the speech level are percentiles of the frame loudness.
NOISE_PERCENTILE = 10
SPEECH_PERCENTILE = 95
# Speech quieter than this (dBFS) at its loudest is no speech at all.
SILENT_SPEECH_DB = -60.0
# With less contrast than this between floor and speech there are no pauses to find.
LEAST_CONTRAST_DB = 10.0
# The threshold sits halfway (in dB) between floor and speech, but never closer than this to speech.
SPEECH_HEADROOM_DB = 15.0
# Where a voice is heard (`voiced`): sound is what rises SOUND_SHARE of the way (in dB) from the
# noise floor to the speech level, lower than the pause threshold, since an unstressed word is
# still sound; quiet shorter than SHORTEST_GAP is a stop or a gap between syllables, not a pause.
SOUND_SHARE = 0.25
SHORTEST_GAP = 0.15
# Share of remove_silence's progress bar given to detection.
DETECT_SHARE = 20.0
DETECTING = "Detecting pauses"


def remove_silence(
    src: str | Path,
    dst: str | Path,
    *,
    threshold_db: float | str = "auto",
    min_silence: float = 0.5,
    margin: float = 0.2,
    on_progress: Progress = ignore,
    info: MediaInfo | None = None,
) -> dict:
    """Cut the pauses out of `src` and write the result to `dst`; return the figures of the edit.

    `info` is what `src` holds, if the caller knows it already; else `src` is probed.
    `dst` appears only when complete. Raises MediaError with a sentence for the person when
    the file has no sound, is too short, or is silent throughout, and UnfitOutput (before any
    work) when `dst`'s extension cannot hold the result.
    """
    src, dst = Path(src), Path(dst)
    info = info or probe(src)
    output_container(dst, info.video and info.video.codec)
    cutlist = detect_silence(
        src,
        threshold_db=threshold_db,
        min_silence=min_silence,
        margin=margin,
        on_progress=part(on_progress, 0.0, DETECT_SHARE),
        info=info,
    )
    # What is cut out is pause: a kept edge may take up to another margin of it to land on a keyframe.
    result = make_cut(
        src, dst, cutlist, on_progress=part(on_progress, DETECT_SHARE, 100.0), info=info, slack=margin
    )
    on_progress(100.0, "Done")
    return result


def detect_silence(
    src: str | Path,
    *,
    threshold_db: float | str = "auto",
    min_silence: float = 0.5,
    margin: float = 0.2,
    on_progress: Progress = ignore,
    info: MediaInfo | None = None,
    sound: Path | None = None,
) -> CutList:
    """The ranges of `src` to keep: everything but pauses of `min_silence` s or more, less `margin`.

    `info` is what `src` holds, if the caller knows it already; else `src` is probed. The sound
    is read once, as a stream, so memory stays flat whatever the length: from the decoded `sound`
    file when given (decoded into it first unless a job before did, see jobs.sound).
    """
    info = info or probe(src)
    if info.audio is None:
        raise MediaError(NO_AUDIO)
    if info.duration < SHORTEST_INPUT:
        raise MediaError(TOO_SHORT)
    on_progress(0.0, DETECTING)
    levels = frame_levels(src, info.duration, lambda fraction: on_progress(100 * fraction, DETECTING), sound)
    frames = int(np.ceil(info.duration / FRAME_SECONDS))
    # Sound that ends before the picture leaves the rest silent.
    levels = np.concatenate([levels[:frames], np.full(max(0, frames - len(levels)), FLOOR_DB, np.float32)])
    threshold, floor, speech = choose_threshold(levels, threshold_db)
    if not (levels >= threshold).any():
        raise MediaError(NOTHING_LOUD.format(threshold=threshold) if threshold_db != "auto" else ALL_SILENT)
    keep = keep_ranges(levels < threshold, info.duration, min_silence, margin)
    if not keep:
        raise MediaError(ALL_SILENT)
    on_progress(100.0, DETECTING)
    details = {
        "threshold_db": round(threshold, 2),
        "noise_floor_db": round(floor, 2),
        "speech_db": round(speech, 2),
        "min_silence": min_silence,
        "margin": margin,
    }
    return CutList(info.duration, keep, details)


def frame_levels(
    src: str | Path, duration: float, on_fraction: Callable[[float], None], sound: Path | None = None
) -> np.ndarray:
    """Loudness in dBFS of every FRAME_SECONDS of the sound, read in chunks; from the decoded
    `sound` file when given (jobs.sound: decoded once for every job that reads it)."""
    parts = []
    carry = np.zeros(0, np.float32)
    for chunk in mono_chunks(src, sound, duration, on_fraction, CHUNK_FRAMES * FRAME_SECONDS):
        samples = np.concatenate([carry, chunk]) if len(carry) else chunk
        whole = len(samples) // FRAME_SAMPLES * FRAME_SAMPLES
        parts.append(sample_levels(samples[:whole]))
        carry = samples[whole:]
    if len(carry):
        parts.append(sample_levels(carry))
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def sample_levels(samples: np.ndarray) -> np.ndarray:
    """Loudness in dBFS of every FRAME_SECONDS of mono DETECT_RATE samples; a partial last frame counts
    as a whole one padded with silence."""
    samples = np.pad(samples, (0, -len(samples) % FRAME_SAMPLES))
    frames = samples.reshape(-1, FRAME_SAMPLES).astype(np.float64)
    rms = np.sqrt(np.mean(frames * frames, axis=1))
    return np.maximum(20 * np.log10(np.maximum(rms, 1e-12)), FLOOR_DB).astype(np.float32)


def choose_threshold(levels: np.ndarray, threshold_db: float | str) -> tuple[float, float, float]:
    """(threshold, noise floor, speech level) in dBFS; "auto" places it from the recording itself.

    Halfway in dB between the floor and the speech level suits both a quiet and a loud
    recording; it never comes within SPEECH_HEADROOM_DB of speech, so soft syllables stay.
    """
    floor = float(np.percentile(levels, NOISE_PERCENTILE))
    speech = float(np.percentile(levels, SPEECH_PERCENTILE))
    if threshold_db != "auto":
        try:
            return float(threshold_db), floor, speech
        except (TypeError, ValueError):
            message = f"The silence threshold must be a number of dBFS or auto, not {threshold_db!r}."
            raise MediaError(message) from None
    if speech < SILENT_SPEECH_DB:
        raise MediaError(ALL_SILENT)
    if speech - floor < LEAST_CONTRAST_DB:
        return floor - 1.0, floor, speech  # evenly loud throughout: nothing to cut
    return min((floor + speech) / 2, speech - SPEECH_HEADROOM_DB), floor, speech


def voiced(levels: np.ndarray) -> np.ndarray:
    """Which frames of `levels` (dBFS per FRAME_SECONDS) hold a voice. Raises MediaError when the
    recording is silent throughout."""
    threshold, floor, speech = choose_threshold(levels, "auto")
    threshold = min(threshold, floor + SOUND_SHARE * (speech - floor))
    return bridge(levels >= threshold, round(SHORTEST_GAP / FRAME_SECONDS))


def bridge(sound: np.ndarray, frames: int) -> np.ndarray:
    """`sound` with its quiet runs shorter than `frames` filled in (not at the ends of the recording)."""
    sound = sound.copy()
    edges = np.diff(np.concatenate([[1], sound.astype(np.int8), [1]]))
    for start, end in zip(np.flatnonzero(edges == -1), np.flatnonzero(edges == 1), strict=True):
        if end - start < frames and start > 0 and end < len(sound):
            sound[start:end] = True
    return sound


def keep_ranges(
    quiet: np.ndarray, duration: float, min_silence: float, margin: float
) -> list[tuple[float, float]]:
    """The ranges between the quiet runs of at least `min_silence` s, each widened by `margin`.

    A pause at either end of the recording is cut to the very end; margins that overlap
    simply leave the pause; a kept clip too short to be speech goes with its pauses.
    """
    edges = np.diff(np.concatenate([[0], quiet.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    cuts = []
    for start, end in zip(starts, ends, strict=True):
        if (end - start) * FRAME_SECONDS < min_silence:
            continue
        cut_start = 0.0 if start == 0 else start * FRAME_SECONDS + margin
        cut_end = duration if end >= len(quiet) else min(duration, end * FRAME_SECONDS - margin)
        if cut_end - cut_start >= SHORTEST_CUT:
            cuts.append((cut_start, cut_end))
    keep, cursor = [], 0.0
    for cut_start, cut_end in cuts:
        if cut_start > cursor:
            keep.append((cursor, cut_start))
        cursor = max(cursor, cut_end)
    if cursor < duration:
        keep.append((cursor, duration))
    return [(a, b) for a, b in keep if b - a >= SHORTEST_KEEP]
