"""SMPTE timecode: frame counts to and from HH:MM:SS:FF, drop-frame (HH:MM:SS;FF) at 29.97 and 59.94."""

from fractions import Fraction


def is_drop_frame_rate(rate: Fraction) -> bool:
    """Whether editors count this rate in drop-frame timecode (the NTSC rates 29.97 and 59.94)."""
    return rate.denominator == 1001 and round(rate) in (30, 60)


def frames_to_timecode(frames: int, rate: Fraction, drop: bool) -> str:
    """`frames` from midnight as timecode at `rate`; drop-frame skips labels, never frames."""
    base = round(rate)
    if drop:
        frames = _with_dropped_labels(frames, base)
    seconds, frame = divmod(frames, base)
    minutes, second = divmod(seconds, 60)
    hours, minute = divmod(minutes, 60)
    separator = ";" if drop else ":"
    return f"{hours % 24:02d}:{minute:02d}:{second:02d}{separator}{frame:02d}"


def timecode_to_frames(text: str, rate: Fraction) -> tuple[int, bool]:
    """The frame count a timecode tag names and whether it is drop-frame; ValueError if malformed."""
    drop = ";" in text or "." in text
    hours, minutes, seconds, frames = (
        int(part) for part in text.replace(";", ":").replace(".", ":").split(":")
    )
    base = round(rate)
    if not (minutes < 60 and seconds < 60 and frames < base):
        raise ValueError(f"timecode out of range: {text}")
    drop = drop and is_drop_frame_rate(rate)
    total = ((hours * 60 + minutes) * 60 + seconds) * base + frames
    if drop:
        all_minutes = hours * 60 + minutes
        total -= _dropped_per_minute(base) * (all_minutes - all_minutes // 10)
    return total, drop


def _dropped_per_minute(base: int) -> int:
    # Two labels a minute at 30, four at 60, except in every tenth minute.
    return base // 15


def _with_dropped_labels(frames: int, base: int) -> int:
    """Frame count plus the labels that drop-frame counting skipped before it."""
    dropped = _dropped_per_minute(base)
    per_ten_minutes = base * 600 - 9 * dropped
    per_minute = base * 60 - dropped
    tens, rest = divmod(frames, per_ten_minutes)
    skipped = 9 * dropped * tens
    if rest > dropped:
        skipped += dropped * ((rest - dropped) // per_minute)
    return frames + skipped
