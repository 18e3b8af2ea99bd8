"""An edit: the ranges of a recording that are kept, and what the editor does to them.

Plain Python over numbers (no numpy, no media): the web process reads and checks edits with it,
the editor's JavaScript (webapp/static/editor.js) does the same range arithmetic in the browser,
and the render job turns an edit into a file through jobs.render.

Words come from a transcript (jobs/subtitles.py describes it). Cutting a word removes its span:
the word and half the silence either side of it, at most PAD seconds, so a cut never clips the
neighbouring words and never leaves a stutter of the pause behind.
"""

from bisect import bisect_right

from jobs.cutlist import JOIN_FADE

Range = tuple[float, float]

# Sound kept before and after a word when the words either side are cut: Whisper's word times
# are often a little late or early, and a breath's worth either side hides that.
PAD = 0.12
# A kept or removed stretch shorter than this is a rounding leftover, not a decision.
SHORTEST = 0.01
# Most kept ranges an edit may hold: one per word of a 10-hour talk is far fewer.
MOST_RANGES = 100_000
DEFAULT_FADE = JOIN_FADE
LONGEST_FADE = 0.1
# A pause this long before a segment starts a new paragraph (as the item page's transcript).
PARAGRAPH_PAUSE = 1.5


class EditError(ValueError):
    """An edit that cannot be applied; the message says why, for the person."""


def normalize(keep, duration: float, frame: float | None = None) -> list[Range]:
    """`keep` as an edit holds it: pairs of seconds, sorted, overlaps and touching ranges merged,
    clipped to [0, duration], on whole frames when `frame` is given, none shorter than SHORTEST.

    Raises EditError for anything that is not a list of [start, end] pairs of numbers with
    start < end, or when nothing would be kept."""
    if not isinstance(keep, list | tuple) or len(keep) > MOST_RANGES:
        raise EditError(f"Kept ranges must be a list of at most {MOST_RANGES} [start, end] pairs.")
    ranges = []
    for pair in keep:
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise EditError("Each kept range must be a pair [start, end] in seconds.")
        start, end = pair
        if not all(isinstance(x, int | float) and not isinstance(x, bool) and x == x for x in pair):
            raise EditError("Each kept range must be a pair of numbers of seconds.")
        if start >= end:
            raise EditError(f"A kept range must end after it starts, not {start:g}–{end:g} s.")
        # Into the recording before float(): 1e308 / frame, or an int of 400 digits, overflows.
        start, end = (float(min(max(x, 0.0), duration)) for x in pair)
        if frame:
            # The recording's end is rarely on the frame grid: an end within a frame of it is the end,
            # or a sliver of it would show as removed.
            start = snap(start, frame)
            end = float(duration) if duration - end < frame else min(snap(end, frame), float(duration))
        if end - start >= SHORTEST:
            ranges.append((start, end))
    merged = merge(ranges)
    if not merged:
        raise EditError("The edit would keep nothing of the recording.")
    return merged


def merge(ranges: list[Range]) -> list[Range]:
    """Sorted, with overlapping and touching ranges joined."""
    merged: list[list[float]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1] + 1e-9:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(a, b) for a, b in merged]


def snap(t: float, frame: float) -> float:
    """`t` on the nearest frame boundary."""
    return round(round(t / frame) * frame, 6)


def cut(keep: list[Range], spans: list[Range]) -> list[Range]:
    """`keep` less every span in `spans`."""
    result = list(keep)
    for lo, hi in merge(spans):
        pieces = []
        for a, b in result:
            if b <= lo or a >= hi:
                pieces.append((a, b))
                continue
            if a < lo:
                pieces.append((a, lo))
            if b > hi:
                pieces.append((hi, b))
        result = pieces
    return [(a, b) for a, b in result if b - a >= SHORTEST]


def restore(keep: list[Range], spans: list[Range], duration: float) -> list[Range]:
    """`keep` with every span in `spans` kept again."""
    return merge([*keep, *((max(0.0, a), min(duration, b)) for a, b in spans if b > a)])


def removed(keep: list[Range], duration: float) -> list[Range]:
    """The stretches an edit leaves out, in order."""
    gaps, cursor = [], 0.0
    for a, b in keep:
        if a - cursor >= SHORTEST:
            gaps.append((cursor, a))
        cursor = b
    if duration - cursor >= SHORTEST:
        gaps.append((cursor, duration))
    return gaps


def kept_length(keep: list[Range]) -> float:
    return sum(b - a for a, b in keep)


def is_kept(keep: list[Range], t: float) -> bool:
    """Whether source time `t` is inside a kept range."""
    i = bisect_right([a for a, _ in keep], t) - 1
    return i >= 0 and t < keep[i][1]


def words(transcript: dict) -> list[dict]:
    """The transcript's words in order, each {"id", "text", "start", "end", "para"}; `para` marks the
    first word of a segment that follows a pause (where the editor starts a new paragraph)."""
    found, last_end = [], None
    for segment in transcript.get("segments", []):
        for index, word in enumerate(segment.get("words") or []):
            text = word["word"].strip()
            if not text:
                continue
            para = index == 0 and (last_end is None or segment["start"] - last_end > PARAGRAPH_PAUSE)
            found.append(
                {"id": len(found), "text": text, "start": word["start"], "end": word["end"], "para": para}
            )
        if segment.get("words"):
            last_end = segment["end"]
    return found


def word_spans(found: list[dict], duration: float) -> list[Range]:
    """What cutting each word removes: the word, and half the gap either side (at most PAD)."""
    spans = []
    for index, word in enumerate(found):
        before = found[index - 1]["end"] if index else 0.0
        after = found[index + 1]["start"] if index + 1 < len(found) else duration
        start = max(word["start"] - min(PAD, max(0.0, word["start"] - before) / 2), 0.0)
        end = min(word["end"] + min(PAD, max(0.0, after - word["end"]) / 2), duration)
        spans.append((round(start, 3), round(max(end, start), 3)))
    return spans


def shorten(pause: Range, length: float) -> Range | None:
    """What to cut from `pause` so that `length` seconds of it stay, half at each side; None when
    it is that short already."""
    start, end = pause
    if end - start <= length + SHORTEST:
        return None
    return (round(start + length / 2, 6), round(end - length / 2, 6))


def check_fade(fade) -> float:
    if not isinstance(fade, int | float) or isinstance(fade, bool) or not 0 <= fade <= LONGEST_FADE:
        raise EditError(f"The audio fade at each join must be between 0 and {LONGEST_FADE:g} seconds.")
    return float(fade)
