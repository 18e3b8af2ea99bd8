"""The sound of a cut: the kept stretches of a track, sample-exact, with short fades at every join."""

import contextlib
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from jobs.containers import Container, audio_encoder, muxer_flags
from jobs.cutlist import CutList
from jobs.ffmpeg import FROM_TIME_ZERO, decode_pcm, ffmpeg_error, ffmpeg_exe, popen
from jobs.probe import MediaInfo
from jobs.progress import Progress


def write_cut_audio(
    src: Path,
    dst: Path,
    ranges: list[tuple[float, float]],
    rate: int,
    channels: int,
    encode: tuple[str, ...],
    on_fraction: Callable[[float], None] | None = None,
    stream: str = "a:0",
    *,
    fade_seconds: float,
) -> int:
    """Encode the kept `ranges` (seconds) of src's sound (track `stream`) into `dst`, fading at each join.

    Sample-exact: each range is cut at round(t × rate). Sound missing at the end is
    filled with silence so the result is exactly as long as the ranges. Returns the sample count.
    """
    bounds = [(round(a * rate), round(b * rate)) for a, b in ranges]
    fade = max(1, round(fade_seconds * rate))
    last = bounds[-1][1]
    command = [
        ffmpeg_exe(),
        *("-hide_banner", "-nostdin", "-loglevel", "error", "-y"),
        *("-f", "f32le", "-ar", str(rate), "-ac", str(channels), "-i", "pipe:0"),
        *encode,
        str(dst),
    ]
    written = 0
    with tempfile.TemporaryFile() as stderr:
        encoder = popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=stderr)
        try:
            chunks = decode_pcm(
                src, sample_rate=rate, channels=channels, stream=stream, filters=FROM_TIME_ZERO
            )
            with contextlib.closing(chunks), contextlib.suppress(BrokenPipeError):  # the encoder failed
                for piece, position in _kept_samples(chunks, bounds, fade):
                    encoder.stdin.write(piece.tobytes())
                    written += len(piece)
                    if on_fraction:
                        on_fraction(min(1.0, position / last))
                # Sound that ends early: silence, so sound and picture stay the same length.
                missing = sum(b - a for a, b in bounds) - written
                if missing > 0:
                    encoder.stdin.write(np.zeros((missing, channels), np.float32).tobytes())
                    written += missing
                encoder.stdin.close()
            returncode = encoder.wait()
        finally:
            if encoder.poll() is None:
                encoder.kill()
            encoder.wait()
            with contextlib.suppress(BrokenPipeError):
                encoder.stdin.close()
        if returncode != 0:
            raise ffmpeg_error(command, returncode, stderr)
    return written


def _kept_samples(
    chunks: Iterator[np.ndarray], bounds: list[tuple[int, int]], fade: int
) -> Iterator[tuple[np.ndarray, int]]:
    """The kept stretches of a stream of sample chunks, faded at the joins, with the read position."""
    position, index = 0, 0
    for chunk in chunks:
        end = position + len(chunk)
        while index < len(bounds) and bounds[index][0] < end:
            start, stop = bounds[index]
            lo, hi = max(start, position), min(stop, end)
            if hi > lo:
                piece = chunk[lo - position : hi - position]
                yield _faded(piece, lo - start, stop - start, fade, index, len(bounds)), hi
            if stop > end:
                break
            index += 1
        position = end
        if index >= len(bounds):
            return


def _faded(piece: np.ndarray, offset: int, length: int, fade: int, index: int, count: int) -> np.ndarray:
    """`piece` (starting `offset` samples into a kept range of `length`) with the join fades applied."""
    fade_in = index > 0 and offset < fade
    fade_out = index < count - 1 and offset + len(piece) > length - fade
    if not (fade_in or fade_out):
        return piece
    position = np.arange(offset, offset + len(piece), dtype=np.float32)
    gain = np.ones(len(piece), np.float32)
    if fade_in:
        gain = np.minimum(gain, (position + 0.5) / fade)
    if fade_out:
        gain = np.minimum(gain, (length - position - 0.5) / fade)
    return piece * np.clip(gain, 0.0, 1.0)[:, None]


def write_audio_only(
    src: Path,
    temp: Path,
    info: MediaInfo,
    container: Container,
    cutlist: CutList,
    report: Progress,
) -> None:
    """Write the kept ranges of a recording that has sound alone straight into `temp`."""
    keep = cutlist.keep
    encode = (*audio_encoder(container, info.audio.codec), *muxer_flags(temp))
    stage = f"Joining {len(keep)} segments"
    report(0.0, stage)
    write_cut_audio(
        src,
        temp,
        keep,
        info.audio.sample_rate,
        max(1, info.audio.channels),
        (*encode, "-map_metadata", "-1", "-vn"),
        lambda f: report(99 * f, stage),
        fade_seconds=cutlist.fade,
    )
