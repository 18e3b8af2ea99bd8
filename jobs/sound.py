"""A recording's sound decoded once: mono float32 samples at SOUND_RATE in a file (the caller says
where), which preparation's waveform, silence detection and sync's reading take instead of decoding
the recording again."""

import contextlib
import fcntl
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from jobs.ffmpeg import FROM_TIME_ZERO, decode_pcm, run_ffmpeg
from jobs.files import written_atomically

SOUND_RATE = 16000
# What ffmpeg is told a sound file is, to read it as an input.
RAW_INPUT = ("-f", "f32le", "-ar", str(SOUND_RATE), "-ac", "1")
# Of reading a recording through its sound file, the share decoding it takes (reading the file
# is several times quicker).
DECODE_SHARE = 0.8
DECODING = "Decoding sound"
# How ffmpeg turns a recording's first sound track into a sound file's samples: as decode_pcm
# does for _decoded below, so a job that decodes for itself reads what a sound file would hold.
_AS_SOUND = ("-map", "0:a:0", "-af", FROM_TIME_ZERO, "-ac", "1", "-ar", str(SOUND_RATE), "-f", "f32le")


def sound_ready(src: str | Path, sound: Path, duration: float, on_fraction: Callable[[float], None]) -> Path:
    """`sound`, holding the sound of `src` (`duration` s): decoded into it now unless a job before
    did. Two jobs at once decode it once: the second waits for the first. `on_fraction` gets the
    share done."""
    with open(sound.with_name(sound.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, however this ends
        if not sound.exists():
            with written_atomically(sound) as part:
                run_ffmpeg(
                    ["-i", str(src), *_AS_SOUND, "-y", str(part)],
                    duration=duration,
                    on_progress=lambda percent, _stage: on_fraction(percent / 100),
                    stage=DECODING,
                )
    on_fraction(1.0)
    return sound


def mono_chunks(
    src: str | Path,
    sound: Path | None,
    duration: float,
    on_fraction: Callable[[float], None],
    chunk_seconds: float,
) -> Iterator[np.ndarray]:
    """`src`'s first sound track as mono float32 at SOUND_RATE from time zero, `chunk_seconds` a
    chunk, memory flat whatever the length; read from the file `sound` when given (decoded into it
    first unless a job before did), else through a pipe. `on_fraction` gets the share done."""
    if sound is None:
        chunks, on_read = _decoded(src, chunk_seconds), on_fraction
    else:
        on_decode, on_read = decode_then_read(on_fraction)
        sound_ready(src, sound, duration, on_decode)
        chunks = _read(sound, chunk_seconds)
    done = 0
    with contextlib.closing(chunks):
        for chunk in chunks:
            yield chunk
            done += len(chunk)
            on_read(min(1.0, done / SOUND_RATE / duration) if duration else 0.0)


def decode_then_read(on_fraction: Callable[[float], None]) -> tuple[Callable, Callable]:
    """The progress callbacks of decoding into a sound file and of reading it after, which share
    `on_fraction` (DECODE_SHARE and the rest)."""
    return (
        lambda fraction: on_fraction(DECODE_SHARE * fraction),
        lambda fraction: on_fraction(DECODE_SHARE + (1.0 - DECODE_SHARE) * fraction),
    )


def _decoded(src: str | Path, chunk_seconds: float) -> Iterator[np.ndarray]:
    chunks = decode_pcm(src, sample_rate=SOUND_RATE, chunk_seconds=chunk_seconds, filters=FROM_TIME_ZERO)
    with contextlib.closing(chunks):
        for chunk in chunks:
            yield chunk[:, 0]


def _read(sound: Path, chunk_seconds: float) -> Iterator[np.ndarray]:
    step = max(1, round(chunk_seconds * SOUND_RATE))
    with open(sound, "rb") as samples:
        while len(chunk := np.fromfile(samples, np.float32, step)):
            yield chunk
