"""A recording's sound decoded once: mono float32 samples at SOUND_RATE in a file (the caller says
where), which preparation's waveform, silence detection and sync's reading take instead of decoding
the recording again."""

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from jobs.ffmpeg import FROM_TIME_ZERO, decode_pcm
from jobs.files import written_atomically

SOUND_RATE = 16000
# What ffmpeg is told a sound file is, to read it as an input.
RAW_INPUT = ("-f", "f32le", "-ar", str(SOUND_RATE), "-ac", "1")


def mono_chunks(src: str | Path, sound: Path | None, chunk_seconds: float) -> Iterator[np.ndarray]:
    """`src`'s first sound track as mono float32 at SOUND_RATE from time zero, `chunk_seconds` a
    chunk: read from the file `sound` when a job before wrote it, else decoded, and written to
    `sound` (when given) for the jobs after. Two jobs at once decode it once: the second waits."""
    if sound is None:
        yield from _decoded(src, chunk_seconds)
        return
    with open(sound.with_name(sound.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, however this ends
        if sound.exists():
            fcntl.flock(lock, fcntl.LOCK_UN)
            yield from _read(sound, chunk_seconds)
            return
        with written_atomically(sound) as part, open(part, "wb") as out:
            for chunk in _decoded(src, chunk_seconds):
                out.write(chunk.tobytes())
                yield chunk


def sound_ready(src: str | Path, sound: Path, duration: float, on_fraction) -> Path:
    """`sound`, decoded from `src` first unless a job before did; `on_fraction` gets the share done."""
    done = 0
    for chunk in mono_chunks(src, sound, 10.0):
        done += len(chunk)
        on_fraction(min(1.0, done / SOUND_RATE / duration) if duration else 0.0)
    return sound


def _decoded(src: str | Path, chunk_seconds: float) -> Iterator[np.ndarray]:
    chunks = decode_pcm(src, sample_rate=SOUND_RATE, chunk_seconds=chunk_seconds, filters=FROM_TIME_ZERO)
    with contextlib.closing(chunks):
        for chunk in chunks:
            yield chunk[:, 0]


def _read(sound: Path, chunk_seconds: float) -> Iterator[np.ndarray]:
    # Mapped, not read: memory stays flat whatever the length, as with a decode through a pipe.
    if sound.stat().st_size == 0:
        return
    samples = np.memmap(sound, np.float32, "r")
    step = max(1, round(chunk_seconds * SOUND_RATE))
    for start in range(0, len(samples), step):
        yield np.array(samples[start : start + step])
