"""Which frames a cut keeps, and which of them are copied as whole GOPs and which encoded afresh.

Pure arithmetic on frame numbers: no media is read here, so every rule can be checked by hand on
a made-up GOP layout (tests/test_render_plan.py).
"""

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from jobs.errors import MediaError

LESS_THAN_A_FRAME = "The cut would leave less than one frame of this video."
# What a frame costs against encoding one with x264 (veryfast, one thread), measured on 720p30:
# copying it (auto-editor's estimate), decoding it (FFmpeg's H.264 decoder runs about 5× faster).
COPY_COST = 1 / 32
DECODE_COST = 1 / 5
# Starting an edge's decoder and encoder, in frames encoded. auto-editor counts a whole GOP, as if
# the GOP before the edge were encoded again; here it is only decoded (counted above), and the
# edges are encoded side by side on every core, as the plain re-encode's segments are.
RESTART_COST = 10
# Frames shown after every join that the check decodes. To show them the decoder decodes the
# keyframe and the references they lean on (with B-frames, the P-frame after them first), so a
# join's faults (a reference to a picture the decoder never had, another stream's parameter sets)
# show in these already; decoding on through the GOP only repeats them.
JOIN_FRAMES = 4

Window = tuple[int, int]  # output frames [start, stop)


@dataclass(frozen=True)
class Gops:
    """Where the source's GOPs start, as frame numbers in display order, and how many frames it has."""

    keyframes: Sequence[int]  # ascending, the first 0
    frames: int


@dataclass
class Piece:
    """Frames [start, stop) of the source, copied as packets or re-encoded."""

    start: int
    stop: int
    copy: bool


@dataclass
class SmartPlan:
    pieces: list[Piece] = field(default_factory=list)
    encode_frames: int = 0
    copy_frames: int = 0
    restarts: int = 0


def frame_ranges(keep: list[tuple[float, float]], rate: Fraction, total: int) -> list[tuple[int, int]]:
    """The kept ranges (seconds) as frame numbers [start, stop) of the `total` there are, each end on
    the nearest frame, joined where they touch."""
    ranges: list[tuple[int, int]] = []
    for a, b in keep:
        start, stop = round(a * rate), min(round(b * rate), total)
        if stop <= start:
            continue
        if ranges and start <= ranges[-1][1]:
            ranges[-1] = (ranges[-1][0], max(stop, ranges[-1][1]))
        else:
            ranges.append((start, stop))
    if not ranges:
        raise MediaError(LESS_THAN_A_FRAME)
    return ranges


def snap_to_gops(frames: list[tuple[int, int]], gops: Gops, slack: int) -> list[tuple[int, int]]:
    """The kept ranges with each edge moved outward by at most `slack` frames, into the cut-out part
    and never up to the next range, onto a GOP's edge where that makes the GOP a copied one
    instead of an encoded edge. Only for cut-out parts that are silence: the kept part never
    shrinks, it only takes up to `slack` frames more of the pause around it."""
    keys, snapped = gops.keyframes, []
    ends = [*keys[1:], gops.frames]
    for number, (start, stop) in enumerate(frames):
        # A cut-out part must keep at least a frame: no edge moves onto its neighbour's.
        before = snapped[-1][1] if snapped else -1
        after = frames[number + 1][0] if number + 1 < len(frames) else gops.frames + 1
        gop = bisect_right(keys, start) - 1  # the GOP `start` falls in
        if keys[gop] < start and start - keys[gop] <= slack and keys[gop] > before and ends[gop] <= stop:
            start = keys[gop]
        gop = bisect_right(keys, stop - 1) - 1  # the GOP the last kept frame falls in
        if stop < ends[gop] and ends[gop] - stop <= slack and ends[gop] < after and keys[gop] >= start:
            stop = ends[gop]
        snapped.append((start, stop))
    return snapped


def plan_smart(frames: list[tuple[int, int]], gops: Gops) -> SmartPlan:
    """Per kept clip: encode up to the first GOP start inside it, copy whole GOPs, encode the rest."""
    plan = SmartPlan()
    keys = gops.keyframes
    ends = [*keys[1:], gops.frames]  # where each GOP ends
    for start, clip_stop in frames:
        stop = min(clip_stop, gops.frames)
        if stop <= start:
            continue
        first = bisect_left(keys, start)
        # Past the last GOP that still ends before `stop`.
        last = first
        while last < len(keys) and ends[last] <= stop:
            last += 1
        if last == first:
            plan.pieces.append(Piece(start, stop, copy=False))
            continue
        copy_from, copy_to = keys[first], ends[last - 1]
        if copy_from > start:
            plan.pieces.append(Piece(start, copy_from, copy=False))
        plan.pieces.append(Piece(copy_from, copy_to, copy=True))
        if copy_to < stop:
            plan.pieces.append(Piece(copy_to, stop, copy=False))
    for piece in plan.pieces:
        if piece.copy:
            plan.copy_frames += piece.stop - piece.start
        else:
            plan.encode_frames += piece.stop - piece.start
            plan.restarts += 1
    return plan


def smart_work(plan: SmartPlan, gops: Gops) -> float:
    """What a smart render costs, in frames encoded: frames encoded, frames copied / 32, frames
    decoded (from each edge's GOP start, and again in the check after), a start-up per edge."""
    decoded = edge_decoding(plan.pieces, gops) + sum(stop - start for start, stop in join_windows(plan, gops))
    return (
        plan.encode_frames
        + plan.copy_frames * COPY_COST
        + decoded * DECODE_COST
        + plan.restarts * RESTART_COST
    )


def edge_decoding(pieces: list[Piece], gops: Gops) -> int:
    """How many frames are decoded to re-encode the edges among `pieces`: each from its GOP's start."""
    keys = gops.keyframes
    return sum(piece.stop - keys[bisect_right(keys, piece.start) - 1] for piece in pieces if not piece.copy)


def full_work(frames: list[tuple[int, int]]) -> float:
    """The same for a plain re-encode: every kept frame encoded, the source decoded to the last one."""
    return sum(b - a for a, b in frames) + frames[-1][1] * DECODE_COST


def join_windows(plan: SmartPlan, gops: Gops) -> list[Window]:
    """Output frames [start, stop) where a join can break: the first JOIN_FRAMES of every piece.
    Frames lost or doubled anywhere are found from the packets (verify.fault)."""
    windows: list[Window] = []
    position = 0
    for piece in plan.pieces:
        length = piece.stop - piece.start
        checked = min(length, JOIN_FRAMES)
        if windows and windows[-1][1] >= position:
            windows[-1] = (windows[-1][0], max(windows[-1][1], position + checked))
        else:
            windows.append((position, position + checked))
        position += length
    return windows


def split_frames(frames: list[tuple[int, int]], parts: int) -> list[list[tuple[int, int]]]:
    """`frames` (kept ranges, in order) cut into `parts` runs of about as many kept frames each; a
    range may be split between two runs. Fewer runs where there are fewer frames than `parts`."""
    total = sum(b - a for a, b in frames)
    parts = max(1, min(parts, total))
    runs: list[list[tuple[int, int]]] = [[]]
    taken = 0  # kept frames in the runs so far
    for start, stop in frames:
        while start < stop:
            room = round(total * len(runs) / parts) - taken  # what this run still takes
            if room == 0:
                runs.append([])
                continue
            end = min(stop, start + room)
            runs[-1].append((start, end))
            taken += end - start
            start = end
    return runs
