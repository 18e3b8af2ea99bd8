"""The source's video packets read once (headers only): where each shows, where its GOPs start, and
whether its GOPs can be copied at all (H.264, constant frame rate, closed GOPs)."""

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from jobs.probe import MediaInfo
from jobs.progress import Progress
from jobs.render import h264
from jobs.render.plan import Gops

SMART_CONTAINERS = {"mp4", "mov", "m4v", "mkv", "matroska"}


@dataclass
class VideoIndex:
    """Every video packet of the source in decode order: where it shows, whether it starts a GOP."""

    time_base: Fraction
    frame_ticks: int
    first_pts: int
    shown: np.ndarray  # presentation frame number of each packet
    keyframes: np.ndarray  # presentation frame numbers of the GOP starts, ascending
    key_positions: np.ndarray  # where each GOP starts in decode order
    reorder: int  # how many frames the source's decode order runs ahead of its display order
    bit_rate: int

    @property
    def gops(self) -> Gops:
        return Gops(tuple(int(key) for key in self.keyframes), len(self.shown))


def index_video(src: Path, info: MediaInfo, rate: Fraction, report: Progress) -> VideoIndex | None:
    """Read the packet headers (no decoding); None where smart rendering cannot be trusted."""
    if info.video.codec != "h264" or info.container not in SMART_CONTAINERS:
        return None
    if info.video.pix_fmt not in ("yuv420p", "yuvj420p"):
        return None
    with av.open(str(src)) as container:
        stream = container.streams.video[0]
        context = stream.codec_context
        if h264.X264_PROFILES.get(context.profile) is None or not context.extradata:
            return None
        time_base = stream.time_base
        ticks = 1 / (rate * time_base)
        if ticks.denominator != 1:
            return None
        length_size = h264.nal_length_size(context.extradata)
        pts, keys, size = [], [], 0
        report(0.0, "Reading the video's structure")
        for packet in container.demux(stream):
            if packet.pts is None:
                continue
            pts.append(packet.pts)
            keys.append(packet.is_keyframe)
            size += packet.size
            if packet.is_keyframe and not h264.starts_with_idr(bytes(packet), length_size):
                return None  # open GOP: a copied I-frame would show frames from before the cut
    if not pts:
        return None
    return _layout(np.asarray(pts, np.int64), np.asarray(keys), time_base, int(ticks), rate, size)


def _layout(
    pts: np.ndarray, keys: np.ndarray, time_base: Fraction, ticks: int, rate: Fraction, size: int
) -> VideoIndex | None:
    """The index of packets with these `pts` and keyframe flags, or None unless every frame is there
    once, on a constant grid, in closed GOPs."""
    first = int(pts.min())
    steps = (pts - first) / ticks
    shown = np.rint(steps).astype(np.int64)
    if np.abs(steps - shown).max() > 0.01 or len(np.unique(shown)) != len(shown):
        return None  # variable frame rate
    if shown.max() + 1 != len(shown):
        return None  # frames missing
    key_positions = np.flatnonzero(keys)
    if not len(key_positions) or key_positions[0] != 0:
        return None
    # Closed GOPs only: each GOP, in decode order, holds exactly the frames it shows.
    bounds = [*key_positions, len(shown)]
    for begin, end in zip(bounds[:-1], bounds[1:], strict=True):
        group = shown[begin:end]
        if group.min() != shown[begin] or group.max() != shown[begin] + (end - begin) - 1:
            return None
    reorder = int(max(0, (np.arange(len(shown)) - shown).max()))
    duration = len(shown) / rate
    return VideoIndex(
        time_base=time_base,
        frame_ticks=ticks,
        first_pts=first,
        shown=shown,
        keyframes=shown[key_positions],
        key_positions=key_positions,
        reorder=reorder,
        bit_rate=int(size * 8 / float(duration)) if duration else 0,
    )
