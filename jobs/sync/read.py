"""Reading both recordings for matching: each file's first sound track as mono float32 at
ANALYSIS_RATE, decoded by two ffmpeg processes at once through pipes (full-rate audio is never
held; the camera's from its decoded sound when there is one, see jobs.sound), and the probes that
tell whether there is sound to read."""

import contextlib
import math
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from pathlib import Path

import av
import numpy as np

from jobs.errors import MediaError
from jobs.ffmpeg import FFmpegError, decode_pcm
from jobs.probe import MediaInfo, probe
from jobs.progress import Progress
from jobs.sound import RAW_INPUT, decode_then_read, sound_ready

ANALYSIS_RATE = 8000
READ_SECONDS = 30.0
# Windows quieter than this share of the recording's RMS are treated as silence and skipped.
QUIET_SHARE = 0.05

# How the two files are named in the messages about their sound.
CAMERA = "camera recording"
EXTERNAL = "external"

NO_SOUND = "The {role} has no sound track, so there is nothing to match it by."
UNREADABLE = "Cutroom could not read the sound of the {role}: {reason}"


def probe_audio(path: str | Path, role: str, info: MediaInfo | None = None) -> MediaInfo:
    """The probe of `path` (`info` when the caller already has it), refused when it holds no sound."""
    info = info or probe(path)
    if info.audio is None:
        raise MediaError(NO_SOUND.format(role=role))
    return info


def audio_start(path: str | Path) -> float:
    """Where the first audio sample sits on the container's timeline, in seconds (usually 0)."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        if stream.start_time is None:
            return 0.0
        start = float(stream.start_time * stream.time_base)
        return start - (container.start_time or 0) / av.time_base


def decode_pair(
    primary: str | Path,
    primary_info: MediaInfo,
    external: str | Path,
    external_info: MediaInfo,
    on_progress: Progress,
    primary_sound: Path | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Decode both files at once (two ffmpeg processes), reporting their combined progress. With
    `primary_sound`, the primary is read from that decoded sound (decoded into it first unless a
    job before did, see jobs.sound), which starts at the container's time zero."""
    fractions = [0.0, 0.0]
    stop = threading.Event()

    def follow(index: int) -> Callable[[float], None]:
        return lambda fraction: fractions.__setitem__(index, fraction)

    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [
            pool.submit(_decode, primary, primary_info.duration, CAMERA, follow(0), stop, primary_sound),
            pool.submit(_decode, external, external_info.duration, "external recording", follow(1), stop),
        ]
        try:
            while True:
                done, pending = wait(futures, timeout=0.2, return_when=FIRST_EXCEPTION)
                stage = "Reading camera audio" if not futures[0].done() else "Reading external audio"
                on_progress(100.0 * min(1.0, sum(fractions) / 2), stage)
                if not pending or any(future.exception() for future in done):
                    break
            return futures[0].result(), futures[1].result()
        finally:
            stop.set()


def _decode(
    path: str | Path,
    duration: float,
    role: str,
    on_fraction: Callable[[float], None],
    stop: threading.Event,
    sound: Path | None = None,
) -> np.ndarray:
    """The file's first audio track as mono float32 at ANALYSIS_RATE, read through a pipe (from its
    decoded `sound` when given: decoding is then most of the work, resampling it the rest)."""
    expected = max(1, int((duration + 1.0) * ANALYSIS_RATE))
    samples = np.empty(expected, dtype=np.float32)
    filled = 0
    raw = ()
    try:
        if sound is not None:
            on_decode, on_fraction = decode_then_read(on_fraction)
            path, raw = sound_ready(path, sound, duration, on_decode), RAW_INPUT
        chunks = decode_pcm(path, sample_rate=ANALYSIS_RATE, chunk_seconds=READ_SECONDS, extra_input_args=raw)
        with contextlib.closing(chunks):
            for chunk in chunks:
                if stop.is_set():
                    break
                values = chunk[:, 0]
                if filled + values.size > samples.size:
                    samples = np.resize(samples, max(filled + values.size, int(samples.size * 1.25)))
                samples[filled : filled + values.size] = values
                filled += values.size
                on_fraction(min(1.0, filled / expected))
    except FFmpegError as exc:
        reason = exc.reason or "ffmpeg failed."
        raise MediaError(UNREADABLE.format(role=role, reason=reason)) from exc
    on_fraction(1.0)
    return samples[:filled]


def normalise(samples: np.ndarray) -> None:
    """Scale `samples` in place to zero mean and unit RMS: the levels that tell sound from silence
    (QUIET_SHARE, the sounding level) are shares of this unit."""
    samples -= samples.mean(dtype=np.float64)
    rms = math.sqrt(float(np.dot(samples, samples)) / samples.size)
    if rms > 0:
        samples /= rms
