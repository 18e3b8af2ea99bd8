"""Running a render's independent pieces on every usable core, results taken in order.

PyAV (18.1) lets go of the GIL while it encodes but not while it decodes (two threads decoding
took 2.3× as long as one), so work that decodes runs in worker processes (`Processes`), one a
core: each is a Python started by jobs.ffmpeg.popen, so it dies with the render even when the
render is killed outright, and it is given module-level functions and their arguments, pickled.
"""

import contextlib
import os
import pickle
import queue
import subprocess
import sys
import threading
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future
from pathlib import Path

from jobs.ffmpeg import popen

# A worker process's command: the same Python and the same `jobs` as the render's.
SERVE = "from jobs.render.parallel import serve; serve()"
ROOT = Path(__file__).resolve().parent.parent.parent
# Frames each worker process must have to decode (720p H.264, about 2.2 ms each on one core) to pay
# for its start: about 0.3 s of CPU, a Python importing PyAV and numpy.
FRAMES_PER_PROCESS = 300


def usable_cores() -> int:
    """The cores this process may run on (a container or taskset may allow fewer than the machine has)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def threads_each(workers: int) -> int:
    """Threads for each of `workers` encoders running at once, so together they fill the cores
    without oversubscribing them (x264 alone would start 1.5 threads per core in every encoder)."""
    return max(1, usable_cores() // max(1, workers))


def decoding_processes(frames: int, most: int) -> int:
    """How many worker processes (at most `most`) to share the decoding of `frames` frames between:
    0 where fewer than two would each have FRAMES_PER_PROCESS, and it is done better in-process."""
    processes = min(usable_cores(), most, frames // FRAMES_PER_PROCESS)
    return processes if processes > 1 else 0


def in_order(pool: Executor, work: Callable, items: Iterable, ahead: int) -> Iterator:
    """work(item) for each item, run in `pool`, yielded in the items' order; at most `ahead` are
    started and not yet taken, so memory holds only that many results. Closing the iterator early
    (an exception, a cancel) drops the work not yet started."""
    pending: deque = deque()
    try:
        for item in items:
            pending.append(pool.submit(work, item))
            if len(pending) >= ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()


class WorkerDied(Exception):
    """A worker process ended without answering (killed, out of memory, a crash in C)."""


class Processes(Executor):
    """`workers` worker processes that run the functions submitted, one call at a time each.

    `initializer(*initargs)` runs first in each (to open a file once per process, say). What is
    submitted and what comes back must pickle, so functions are module-level ones. Leaving the
    `with` block normally lets the workers finish and end; leaving it by an exception kills them at
    once. The processes are started by the calling thread, and die when it ends.
    """

    def __init__(self, workers: int, initializer: Callable | None = None, initargs: tuple = ()):
        self.workers = workers
        self._tasks: queue.SimpleQueue = queue.SimpleQueue()
        path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        command = [sys.executable, "-c", SERVE]
        env = {**os.environ, "PYTHONPATH": path}
        self._processes = [
            popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env) for _ in range(workers)
        ]
        self._threads = [
            threading.Thread(target=self._feed, args=(process, initializer, initargs), daemon=True)
            for process in self._processes
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, fn: Callable, /, *args, **kwargs) -> Future:
        future: Future = Future()
        self._tasks.put((future, fn, args, kwargs))
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if cancel_futures:
            while True:
                try:
                    task = self._tasks.get_nowait()
                except queue.Empty:
                    break
                if task:
                    task[0].cancel()
        for _ in self._threads:
            self._tasks.put(None)
        if wait:
            for thread in self._threads:
                thread.join()
            for process in self._processes:
                process.wait()

    def __exit__(self, kind, value, trace):
        # A generator closed by its reader (done, or cancelled) lets the calls under way finish.
        failed = kind is not None and not issubclass(kind, GeneratorExit)
        if failed:
            for process in self._processes:
                process.kill()
        self.shutdown(wait=True, cancel_futures=kind is not None)
        return False

    def _feed(self, process: subprocess.Popen, initializer: Callable | None, initargs: tuple) -> None:
        """One worker's thread: hands it a task at a time, until told to stop. A worker that failed
        fails every task it takes after, so none waits for ever."""
        broken = None
        try:
            if initializer is not None:
                started = _outcome(process, initializer, initargs, {})
                broken = started if isinstance(started, BaseException) else None
            while (task := self._tasks.get()) is not None:
                future, fn, args, kwargs = task
                if not future.set_running_or_notify_cancel():
                    continue
                outcome = broken or _outcome(process, fn, args, kwargs)
                if isinstance(outcome, WorkerDied):
                    broken = outcome
                if isinstance(outcome, BaseException):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome[0])
        finally:
            for pipe in (process.stdin, process.stdout):
                with contextlib.suppress(OSError):  # a dead worker's pipe
                    pipe.close()


def _outcome(process: subprocess.Popen, fn: Callable, args: tuple, kwargs: dict) -> tuple | BaseException:
    """(result,) of fn(*args, **kwargs) run in `process`, or the exception it raised there."""
    try:
        pickle.dump((fn, args, kwargs), process.stdin)
        process.stdin.flush()
        ok, value = pickle.load(process.stdout)
    except (EOFError, OSError, pickle.UnpicklingError) as exc:
        return WorkerDied(f"a render's worker process ended ({exc!r}, exit status {process.poll()})")
    return (value,) if ok else value


def serve() -> None:
    """A worker process: (function, args, kwargs) pickled on stdin, (ok, result or exception)
    pickled back, until stdin closes. Whatever else writes to stdout goes to stderr instead."""
    results = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    tasks = sys.stdin.buffer
    while True:
        try:
            fn, args, kwargs = pickle.load(tasks)
        except EOFError:
            return
        try:
            reply = (True, fn(*args, **kwargs))
        except Exception as exc:
            exc.add_note(f"in a render's worker process:\n{traceback.format_exc()}")
            reply = (False, exc)
        try:
            data = pickle.dumps(reply)
        except Exception:
            data = pickle.dumps((False, RuntimeError(f"{reply[1]!r} (it could not be sent back)")))
        results.write(data)
        results.flush()
