"""How the engine reports progress: one callback type for every job and step.

A job calls `on_progress(percent, stage)` with percent from 0 to 100 and a short stage name a
person reads ("Cutting", "Encoding"). Callers that do not follow progress pass nothing; the
engine then reports to `ignore`.
"""

from collections.abc import Callable

Progress = Callable[[float, str], None]


def ignore(percent: float, stage: str) -> None:
    """The progress sink of callers that do not follow progress."""


def part(on_progress: Progress, start: float, end: float) -> Progress:
    """A callback for one step of a job that takes percent start..end of the job's bar: the step
    counts 0..100 of its own, and the job's bar moves from `start` to `end`."""

    def report(percent: float, stage: str) -> None:
        on_progress(start + (end - start) * min(max(percent, 0.0), 100.0) / 100.0, stage)

    return report


def never_back(on_progress: Progress) -> Progress:
    """`on_progress`, but never moving backwards (a fallback starts its own count from zero)."""
    highest = 0.0

    def report(percent: float, stage: str) -> None:
        nonlocal highest
        highest = max(highest, min(100.0, percent))
        on_progress(highest, stage)

    return report
