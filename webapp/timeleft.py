"""The time left of a running task, estimated steadily enough to show to a person.

Progress comes in bursts (a transcription reports once per window of speech, a render per
chunk), so "elapsed × left / done" swings with every report. Here the rate is an exponentially
weighted average over time, nothing is shown until two estimates in a row agree, and the figure
shown is a clock that runs down: each report only changes how fast it runs (slower while the
estimate is above it, faster while below), so it never goes back up, unless the estimate leaves
it far behind (the work really slowed down).
"""

import math
from dataclasses import dataclass

# Seconds over which the rate is averaged: a report weighs e⁻¹ less this many seconds later.
RATE_TIME_CONSTANT = 20.0
# Nothing is shown before this many seconds of reports.
SETTLE_SECONDS = 10.0
# Two estimates in a row agree when they differ by at most this share of the later one plus seconds.
AGREE = (0.25, 10.0)
# The clock is set so it would meet the estimate within this many seconds, running at most this fast.
CATCH_UP_SECONDS = 30.0
FASTEST_PACE = 3.0
# An estimate above this many times the clock plus seconds resets the clock to it.
FAR_BEHIND = (2.0, 60.0)


@dataclass
class Clock:
    """What is shown: `seconds` left at wall-clock time `at`, running down `pace` seconds per second."""

    at: float
    seconds: float
    pace: float = 1.0

    def left(self, now: float) -> float:
        return max(self.seconds - self.pace * (now - self.at), 0.0)


class TimeLeft:
    """Fed a task's progress reports (percent, time) in order; `clock` is what to show, or None yet."""

    def __init__(self):
        self.first_at: float | None = None
        self.last: tuple[float, float] | None = None  # (time, percent) of the latest report
        self.rate: float | None = None  # percent per second, weighted towards recent reports
        self.estimate: tuple[float, float] | None = None  # (time, seconds left) at the latest report
        self.clock: Clock | None = None

    def update(self, percent: float, at: float) -> Clock | None:
        if self.last is None:
            self.first_at, self.last = at, (at, percent)
            return None
        then, before = self.last
        if at > then:
            rate = max(percent - before, 0.0) / (at - then)
            weight = 1 - math.exp(-(at - then) / RATE_TIME_CONSTANT)
            self.rate = rate if self.rate is None else self.rate + weight * (rate - self.rate)
            self.last = (at, percent)
        if not self.rate:
            return self.clock
        estimate = (100 - percent) / self.rate
        previous, self.estimate = self.estimate, (at, estimate)
        if self.clock is None:
            if at - self.first_at >= SETTLE_SECONDS and previous and _agree(previous, at, estimate):
                self.clock = Clock(at, estimate)
            return self.clock
        shown = self.clock.left(at)
        if estimate > FAR_BEHIND[0] * shown + FAR_BEHIND[1]:
            self.clock = Clock(at, estimate)
        else:
            pace = 1 + (shown - estimate) / CATCH_UP_SECONDS
            self.clock = Clock(at, shown, min(max(pace, 0.0), FASTEST_PACE))
        return self.clock


def _agree(previous: tuple[float, float], at: float, estimate: float) -> bool:
    """Whether an earlier estimate, run down to `at`, is close to this one."""
    then, seconds = previous
    expected = seconds - (at - then)
    return abs(estimate - expected) <= AGREE[0] * estimate + AGREE[1]
