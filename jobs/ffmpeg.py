"""Run the ffmpeg command-line tool with live progress, readable errors and no orphaned processes."""

import ctypes
import functools
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import IO

import imageio_ffmpeg
import numpy as np

from jobs.errors import MediaError
from jobs.progress import Progress, ignore

STDERR_TAIL_LINES = 20
# Enough bytes for STDERR_TAIL_LINES lines; a broken input can make ffmpeg log megabytes.
STDERR_TAIL_BYTES = 16 * 1024
# ffmpeg's default (0.5 s) leaves a short job with no visible progress at all.
STATS_PERIOD = "0.25"
# "[in#0 @ 0x55d1c0a3c2c0] " and the like: where in ffmpeg the message came from.
LOG_CONTEXT = re.compile(r"^\[[^\]]*\]\s*")
# An audio filter that puts the first sample at time 0 and fills gaps, so sample n is at n / rate.
FROM_TIME_ZERO = "aresample=async=1:first_pts=0"


@functools.cache
def ffmpeg_exe() -> str:
    """The ffmpeg to run: $FFMPEG_BINARY, else the one on PATH, else the one imageio-ffmpeg ships."""
    return os.environ.get("FFMPEG_BINARY") or shutil.which("ffmpeg") or imageio_ffmpeg.get_ffmpeg_exe()


def video_filter_file(path) -> list[str]:
    """The arguments that make ffmpeg read its video filter graph from the file at `path`, for a
    graph longer than one command-line argument may be (128 KiB on Linux)."""
    return ["-/vf" if _reads_options_from_files() else "-filter_script:v", str(path)]


@functools.cache
def _reads_options_from_files() -> bool:
    """Whether this ffmpeg takes `-/vf FILE` (7.0 on); older ones take only `-filter_script:v FILE`,
    which 8.0 removed."""
    with tempfile.NamedTemporaryFile("w", suffix=".filter") as graph:
        graph.write("null")
        graph.flush()
        command = [ffmpeg_exe(), "-v", "quiet", "-f", "lavfi", "-i", "nullsrc=d=0.04"]
        command += ["-/vf", graph.name, "-f", "null", "-"]
        return subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True).returncode == 0


PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
# Looked up here, not in the child: loading a library between fork and exec can deadlock.
_prctl = ctypes.CDLL(None).prctl if sys.platform == "linux" else None


def popen(command: list[str], **kwargs) -> subprocess.Popen:
    """subprocess.Popen for ffmpeg (or a render's worker process), with stdin closed unless given. On
    Linux the child is killed when the thread that started it ends, even by SIGKILL: a job killed
    outright leaves no ffmpeg behind."""
    kwargs.setdefault("stdin", subprocess.DEVNULL)
    if _prctl is not None:
        kwargs["preexec_fn"] = functools.partial(_die_with_parent, os.getpid())
    return subprocess.Popen(command, **kwargs)


def _die_with_parent(parent: int) -> None:
    """Runs in the child between fork and exec."""
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the line above
        os.kill(os.getpid(), signal.SIGKILL)


class FFmpegError(MediaError):
    """ffmpeg failed: str() is for the user, `detail` (command, exit status, stderr) for logs."""

    def __init__(self, message: str, detail: str = "", reason: str = ""):
        super().__init__(message)
        self.detail = detail
        self.reason = reason  # ffmpeg's own last words, for a message that names the file's role
        if detail:
            # Notes are printed with the traceback, so RQ's failure record shows the detail.
            self.add_note(detail)


def run_ffmpeg(
    args: list[str],
    *,
    duration: float | None = None,
    on_progress: Progress = ignore,
    stage: str = "",
    timeout: float | None = None,
) -> None:
    """Run ffmpeg with `args`, reporting the percent done (0..100) and `stage` to `on_progress`.

    `duration` is the length in seconds of what is being processed; without it only the
    final 100 is reported. The output must not go to stdout, which carries the progress.
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
        process = popen(command, stdout=subprocess.PIPE, stderr=stderr)
        watchdog = threading.Timer(timeout, process.kill) if timeout else None
        try:
            if watchdog:
                watchdog.start()
            reported = _follow_progress(process.stdout, duration, on_progress, stage)
            returncode = process.wait()
        finally:
            if watchdog:
                watchdog.cancel()
            _stop(process)
        if returncode != 0:
            timed_out = timeout is not None and time.monotonic() - started >= timeout
            raise _failure(command, returncode, _tail(stderr), timeout if timed_out else None)
    if reported < 100.0:
        on_progress(100.0, stage)


def decode_pcm(
    path: str | os.PathLike,
    *,
    sample_rate: int,
    channels: int = 1,
    stream: str = "a:0",
    chunk_seconds: float = 10.0,
    extra_input_args: Sequence[str] = (),
    filters: str | None = None,
) -> Iterator[np.ndarray]:
    """The sound of `path` as float32 arrays of shape (samples, channels), about `chunk_seconds` each.

    ffmpeg decodes, mixes to `channels` and resamples to `sample_rate`; the samples arrive
    through a pipe, so memory stays flat whatever the length. `stream` picks the input stream
    (ffmpeg's `-map 0:<stream>`), `extra_input_args` go before `-i`, `filters` is an `-af` chain.
    Raises FFmpegError if ffmpeg fails. Closing the generator early, or an exception in the
    caller, stops ffmpeg; however it ends, ffmpeg is not left running.
    """
    command = [
        ffmpeg_exe(),
        *("-hide_banner", "-nostdin", "-loglevel", "error"),
        *extra_input_args,
        *("-i", os.fspath(path), "-map", f"0:{stream}"),
        *(("-af", filters) if filters else ()),
        *("-ac", str(channels), "-ar", str(sample_rate), "-f", "f32le", "pipe:1"),
    ]
    frame_bytes = 4 * channels
    chunk_bytes = max(1, round(chunk_seconds * sample_rate)) * frame_bytes
    with tempfile.TemporaryFile() as stderr:
        process = popen(command, stdout=subprocess.PIPE, stderr=stderr)
        try:
            pending = b""
            # A full read(n) of a pipe returns n bytes unless ffmpeg has finished.
            while data := process.stdout.read(chunk_bytes):
                if pending:
                    data = pending + data
                whole = len(data) - len(data) % frame_bytes
                pending = data[whole:]
                if whole:
                    yield np.frombuffer(data, np.float32, whole // 4).reshape(-1, channels)
            returncode = process.wait()
        finally:
            _stop(process)
        if returncode != 0:
            raise ffmpeg_error(command, returncode, stderr)


def _follow_progress(
    stdout: Iterable[bytes],
    duration: float | None,
    on_progress: Progress,
    stage: str,
) -> float:
    """Read ffmpeg's `-progress` stream to its end; pass each larger percentage on; return the last."""
    reported = 0.0
    out_time = 0.0
    for raw in stdout:
        key, _, value = raw.decode("ascii", "replace").strip().partition("=")
        # out_time_ms is in microseconds too (an old ffmpeg misnomer); both read "N/A" early on.
        if key in ("out_time_us", "out_time_ms") and value.isdigit():
            out_time = max(out_time, int(value) / 1_000_000)
        elif key == "progress" and duration and duration > 0:
            percent = min(100.0 * out_time / duration, 100.0)
            if percent > reported:
                reported = percent
                on_progress(percent, stage)
    return reported


def _stop(process: subprocess.Popen) -> None:
    """Kill ffmpeg if it still runs and reap it, so neither an orphan nor a zombie is left."""
    if process.poll() is None:
        process.kill()
    process.wait()
    process.stdout.close()


def ffmpeg_error(command: list[str], returncode: int, stderr: IO[bytes]) -> FFmpegError:
    """The FFmpegError for a `command` that exited with `returncode`, from the log in file `stderr`."""
    return _failure(command, returncode, _tail(stderr), None)


def _tail(stderr: IO[bytes]) -> list[str]:
    """The last non-empty lines ffmpeg wrote to stderr, read without loading the whole log."""
    size = stderr.seek(0, os.SEEK_END)
    stderr.seek(max(0, size - STDERR_TAIL_BYTES))
    lines = stderr.read().decode("utf-8", "replace").splitlines()
    if size > STDERR_TAIL_BYTES:
        lines = lines[1:]  # the first line was cut in the middle
    return [line for line in lines if line.strip()][-STDERR_TAIL_LINES:]


def _without_folders(line: str, command: list[str]) -> str:
    """`line` with the files of `command` named by their names alone: the person reads it, and the
    server's folders (where media is stored, whose item it is) are none of their business."""
    for arg in command:
        if os.path.isabs(arg):
            line = line.replace(arg, os.path.basename(arg))
    return line


def _failure(command: list[str], returncode: int, stderr: list[str], timeout: float | None) -> FFmpegError:
    """An FFmpegError whose message a person can read and whose detail a developer can use."""
    detail = "\n".join([f"command: {shlex.join(command)}", f"exit status: {returncode}", *stderr])
    if timeout is not None:
        message = f"Processing took longer than the allowed {timeout:g} seconds and was stopped."
    elif stderr:
        reason = _without_folders(LOG_CONTEXT.sub("", stderr[-1]), command)
        message = f"ffmpeg could not process this file: {reason}"
    else:
        message = f"ffmpeg stopped unexpectedly (exit status {returncode})."
    reason = LOG_CONTEXT.sub("", stderr[-1]) if stderr else ""
    return FFmpegError(message, detail, reason)
