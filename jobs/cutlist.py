"""A cut list: which ranges of a recording are kept, and how times map onto the cut result."""

from bisect import bisect_right
from dataclasses import dataclass, field

# Seconds of sound faded out and in at each join: long enough to hide a click, too short to hear.
JOIN_FADE = 0.008


@dataclass
class CutList:
    """Kept ranges (start, end) in seconds of the source, sorted and not overlapping."""

    duration: float
    keep: list[tuple[float, float]]
    details: dict = field(default_factory=dict)  # threshold used, noise floor, …
    fade: float = JOIN_FADE

    def __post_init__(self):
        self.keep = [(float(a), float(b)) for a, b in self.keep if b > a]
        self._starts = [a for a, _ in self.keep]
        offsets, total = [], 0.0
        for a, b in self.keep:
            offsets.append(total)
            total += b - a
        self._offsets, self.kept_duration = offsets, total

    @property
    def removed(self) -> list[tuple[float, float]]:
        gaps, cursor = [], 0.0
        for a, b in self.keep:
            if a > cursor:
                gaps.append((cursor, a))
            cursor = b
        if cursor < self.duration:
            gaps.append((cursor, self.duration))
        return gaps

    @property
    def removed_seconds(self) -> float:
        return self.duration - self.kept_duration

    def map_time(self, t: float) -> float | None:
        """Where source time `t` lands in the cut result, or None if it was cut out."""
        i = bisect_right(self._starts, t) - 1
        if i < 0:
            return None
        a, b = self.keep[i]
        if t > b:
            return None
        return self._offsets[i] + (t - a)

    def map_span(self, start: float, end: float) -> tuple[float, float] | None:
        """A span (a word, a subtitle) mapped onto the result, clipped to what is kept of it.

        None when none of it is kept. A span that straddles a cut keeps its kept part.
        """
        pieces = [(max(start, a), min(end, b)) for a, b in self.keep if a < end and b > start]
        if not pieces:
            return None
        first, last = pieces[0], pieces[-1]
        return self.map_time(first[0]), self.map_time(last[1])

    def to_dict(self) -> dict:
        return {
            "duration": round(self.duration, 6),
            "kept_duration": round(self.kept_duration, 6),
            "removed_seconds": round(self.removed_seconds, 6),
            "removed_share": round(self.removed_seconds / self.duration, 6) if self.duration else 0.0,
            "keep": [[round(a, 6), round(b, 6)] for a, b in self.keep],
            "removed": [[round(a, 6), round(b, 6)] for a, b in self.removed],
            "fade": self.fade,
            **self.details,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "CutList":
        known = {"duration", "kept_duration", "removed_seconds", "removed_share", "keep", "removed", "fade"}
        details = {k: v for k, v in data.items() if k not in known}
        return cls(data["duration"], [tuple(r) for r in data["keep"]], details, data.get("fade", JOIN_FADE))
