"""Run the ffmpeg command-line tool with live progress, readable errors and no orphaned processes."""

import functools
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from typing import IO

import imageio_ffmpeg

from jobs.errors import MediaError

STDERR_TAIL_LINES = 20
# Enough bytes for STDERR_TAIL_LINES lines; a broken input can make ffmpeg log megabytes.
STDERR_TAIL_BYTES = 16 * 1024
# ffmpeg's default (0.5 s) leaves a short job with no visible progress at all.
STATS_PERIOD = "0.25"
# "[in#0 @ 0x55d1c0a3c2c0] " and the like: where in ffmpeg the message came from.
LOG_CONTEXT = re.compile(r"^\[[^\]]*\]\s*")


@functools.cache
def ffmpeg_exe() -> str:
    """The ffmpeg to run: $FFMPEG_BINARY, else the one on PATH, else the one imageio-ffmpeg ships."""
    return os.environ.get("FFMPEG_BINARY") or shutil.which("ffmpeg") or imageio_ffmpeg.get_ffmpeg_exe()


class FFmpegError(MediaError):
    """ffmpeg failed: str() is for the user, `detail` (command, exit status, stderr) for logs."""

    def __init__(self, message: str, detail: str = ""):
        super().__init__(message)
        self.detail = detail
        if detail:
            # Notes are printed with the traceback, so RQ's failure record shows the detail.
            self.add_note(detail)


def run_ffmpeg(
    args: list[str],
    *,
    duration: float | None = None,
    on_progress: Callable[[float], None] | None = None,
    timeout: float | None = None,
) -> None:
    """Run ffmpeg with `args`, reporting the finished fraction (0..1) to `on_progress`.

    `duration` is the length in seconds of what is being processed; without it only the
    final 1.0 is reported. The output must not go to stdout, which carries the progress.
    Raises FFmpegError if ffmpeg fails or runs longer than `timeout` seconds. However the
    call ends, ffmpeg is not left running.
    """
    command = [
        ffmpeg_exe(),
        *("-hide_banner", "-nostdin", "-loglevel", "error"),
        *("-progress", "pipe:1", "-nostats", "-stats_period", STATS_PERIOD),
        *args,
    ]
    with tempfile.TemporaryFile() as stderr:
        started = time.monotonic()
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr)
        watchdog = threading.Timer(timeout, process.kill) if timeout else None
        try:
            if watchdog:
                watchdog.start()
            reported = _follow_progress(process.stdout, duration, on_progress)
            returncode = process.wait()
        finally:
            if watchdog:
                watchdog.cancel()
            _stop(process)
        if returncode != 0:
            timed_out = timeout is not None and time.monotonic() - started >= timeout
            raise _failure(command, returncode, _tail(stderr), timeout if timed_out else None)
    if on_progress and reported < 1.0:
        on_progress(1.0)


def _follow_progress(
    stdout: Iterable[bytes],
    duration: float | None,
    on_progress: Callable[[float], None] | None,
) -> float:
    """Read ffmpeg's `-progress` stream to its end; pass each larger fraction on; return the last."""
    reported = 0.0
    out_time = 0.0
    for raw in stdout:
        key, _, value = raw.decode("ascii", "replace").strip().partition("=")
        # out_time_ms is in microseconds too (an old ffmpeg misnomer); both read "N/A" early on.
        if key in ("out_time_us", "out_time_ms") and value.isdigit():
            out_time = max(out_time, int(value) / 1_000_000)
        elif key == "progress" and on_progress and duration and duration > 0:
            fraction = min(out_time / duration, 1.0)
            if fraction > reported:
                reported = fraction
                on_progress(fraction)
    return reported


def _stop(process: subprocess.Popen) -> None:
    """Kill ffmpeg if it still runs and reap it, so neither an orphan nor a zombie is left."""
    if process.poll() is None:
        process.kill()
    process.wait()
    process.stdout.close()


def _tail(stderr: IO[bytes]) -> list[str]:
    """The last non-empty lines ffmpeg wrote to stderr, read without loading the whole log."""
    size = stderr.seek(0, os.SEEK_END)
    stderr.seek(max(0, size - STDERR_TAIL_BYTES))
    lines = stderr.read().decode("utf-8", "replace").splitlines()
    if size > STDERR_TAIL_BYTES:
        lines = lines[1:]  # the first line was cut in the middle
    return [line for line in lines if line.strip()][-STDERR_TAIL_LINES:]


def _failure(command: list[str], returncode: int, stderr: list[str], timeout: float | None) -> FFmpegError:
    """An FFmpegError whose message a person can read and whose detail a developer can use."""
    detail = "\n".join([f"command: {shlex.join(command)}", f"exit status: {returncode}", *stderr])
    if timeout is not None:
        message = f"Processing took longer than the allowed {timeout:g} seconds and was stopped."
    elif stderr:
        message = f"ffmpeg could not process this file: {LOG_CONTEXT.sub('', stderr[-1])}"
    else:
        message = f"ffmpeg stopped unexpectedly (exit status {returncode})."
    return FFmpegError(message, detail)
