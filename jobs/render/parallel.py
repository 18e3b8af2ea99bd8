"""Running a render's independent pieces on every usable core, results taken in order."""

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor


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
