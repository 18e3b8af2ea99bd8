"""Render a cut list: copy whole GOPs where the codec allows, re-encode only the clip edges, else all.

Video is cut at frame boundaries and the sound at the very same instants, re-encoded whole
from the keep list with short fades at every join. For H.264 the GOPs that lie wholly inside
a kept clip are stream-copied and only the partial GOPs at the clip edges are re-encoded with
the source's profile, level, size and frame rate; each re-encoded piece carries its own
SPS/PPS and each copied run gets the source's back, so a decoder switches cleanly. The edges are
decoded and encoded side by side on every core, the sound meanwhile in a thread of its own. Every
smart render is checked afterwards (index before media data, track lengths, and a decode of each
join's first frames, and every frame's packet in its place); any fault falls back
to a plain re-encode, which runs as one segment per core at once. Which of the two is tried first follows
an estimate of their work (plan.smart_work, plan.full_work).

The modules: `plan` (which frames are kept, which GOPs copied: pure arithmetic), `index` (the
source's packets), `h264` (bitstream rules), `picture` (the smart picture track), `reencode` (the
plain one), `parallel` (cores and threads), `audio` (the sound), `mux` (joining the tracks),
`verify` (the check); this one runs them and falls back.

Every process a render starts is started by jobs.ffmpeg.popen, so it dies with the render: ffmpeg,
and the worker processes (parallel.Processes) that decode where there is enough to decode, since
PyAV holds the GIL while it decodes.
"""

import contextlib
import logging
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

import av

from jobs.containers import Container, output_container, video_encoder
from jobs.cutlist import CutList
from jobs.errors import MediaError
from jobs.files import written_atomically
from jobs.probe import MediaInfo, probe
from jobs.progress import Progress, ignore, never_back
from jobs.render import verify
from jobs.render.audio import write_audio_only
from jobs.render.index import VideoIndex, index_video
from jobs.render.mux import Track, cut_tracks, join
from jobs.render.picture import SmartRenderFailed, render_workers, write_smart_video
from jobs.render.plan import (
    SmartPlan,
    frame_ranges,
    full_work,
    join_windows,
    plan_smart,
    smart_work,
    snap_to_gops,
)
from jobs.render.reencode import reencode_picture
from jobs.render.verify import Expected
from jobs.streams import Extras, extra_streams

NOTHING_KEPT = "The cut would leave nothing of this recording."
NO_FRAME_RATE = "Cutroom could not tell the frame rate of this video. Export it again and retry."
# What means "the smart render cannot do this file" (the plain re-encode below still can). Nothing
# else is caught: a cancel raised by the progress callback, or a bug, ends the render.
CANNOT_SMART_RENDER = (av.error.FFmpegError, MediaError, SmartRenderFailed)

log = logging.getLogger(__name__)


def render_cut(
    src: str | Path,
    dst: str | Path,
    cutlist: CutList,
    *,
    on_progress: Progress | None = None,
    info: MediaInfo | None = None,
    slack: float = 0.0,
) -> dict:
    """Write to `dst` the parts of `src` that `cutlist` keeps; return how the work was done.

    The result: {"mode": "smart"|"reencode"|"audio", "segments", "copied_seconds",
    "encoded_seconds", "dropped"}, and for a video "keep": the kept ranges as really cut, on whole
    frames. "dropped" describes the source's streams the result does not carry (see jobs.streams).
    `dst` appears only when complete; an extension that cannot hold the result is refused first.
    `info` is src's probe where the caller has it already. `slack` (seconds) is how far a kept
    range may grow into the part cut out next to it, where that part is a pause, so that its edge
    falls on a GOP's and the GOP is copied instead of re-encoded (see plan.snap_to_gops).
    """
    src, dst = Path(src), Path(dst)
    report = never_back(on_progress or ignore)
    info = info or probe(src)
    container = output_container(dst, info.video and info.video.codec)
    if not cutlist.keep:
        raise MediaError(NOTHING_KEPT)
    if not cutlist.removed and src.suffix.lower() == dst.suffix.lower():
        return _copy(src, dst, info)
    # Sound alone is written straight from one pipe: extra tracks and subtitles cannot join it.
    extras = extra_streams(
        src, container, keep_audio=info.video is not None, keep_subtitles=info.video is not None
    )
    with (
        written_atomically(dst) as temp,
        tempfile.TemporaryDirectory(prefix="cutroom-render-", dir=dst.parent) as work,
    ):
        if info.video is None:
            write_audio_only(src, temp, info, container, cutlist, report)
            result = _figures("audio", len(cutlist.keep), 0.0, cutlist.kept_duration)
        else:
            result = _render_video(src, temp, info, container, extras, cutlist, Path(work), report, slack)
    report(100.0, "Done")
    return {**result, "dropped": extras.dropped}


def make_cut(
    src: str | Path,
    dst: str | Path,
    cutlist: CutList,
    *,
    on_progress: Progress | None = None,
    info: MediaInfo | None = None,
    slack: float = 0.0,
) -> dict:
    """render_cut, and the figures of the cut as it was really made: {"cutlist" (its to_dict),
    "original_duration", "kept_duration", "removed_seconds", "removed_share", "dropped" (the
    source's tracks the result does not carry, described for the person), "render"}."""
    render = render_cut(src, dst, cutlist, on_progress=on_progress, info=info, slack=slack)
    if "keep" in render:  # a picture is cut on whole frames: the cut list says what really was
        cutlist = CutList(cutlist.duration, render.pop("keep"), cutlist.details, fade=cutlist.fade)
    figures = cutlist.to_dict()
    return {
        "cutlist": figures,
        "original_duration": figures["duration"],
        "kept_duration": figures["kept_duration"],
        "removed_seconds": figures["removed_seconds"],
        "removed_share": figures["removed_share"],
        "dropped": render.pop("dropped"),
        "render": render,
    }


def _copy(src: Path, dst: Path, info: MediaInfo) -> dict:
    """Nothing is cut: the output is the input, byte for byte."""
    with written_atomically(dst) as temporary:
        shutil.copyfile(src, temporary)
    return {**_figures("copy", 1, info.duration, 0.0), "dropped": []}


def _render_video(
    src: Path,
    temp: Path,
    info: MediaInfo,
    container: Container,
    extras: Extras,
    cutlist: CutList,
    work: Path,
    report: Progress,
    slack: float,
) -> dict:
    rate, length = _frame_rate(src, info)
    # Copied GOPs are H.264: only a container whose picture is H.264 can take them.
    index = index_video(src, info, rate, report) if container.video == "h264" else None
    gops = index.gops if index else None
    frames = frame_ranges(cutlist.keep, rate, gops.frames if gops else round(length * rate))
    plan = None
    if gops:
        snapped = snap_to_gops(frames, gops, int(slack * rate))
        candidate = plan_smart(snapped, gops)
        if candidate.copy_frames and smart_work(candidate, gops) < full_work(snapped):
            plan, frames = candidate, snapped
    kept_frames = sum(b - a for a, b in frames)
    exact = CutList(
        cutlist.duration, [(float(a / rate), float(b / rate)) for a, b in frames], fade=cutlist.fade
    )
    # Sound and subtitle tracks are cut in a thread while the picture is worked on.
    with ThreadPoolExecutor(max_workers=1) as pool:
        tracks = cut_tracks(pool, src, container, extras, exact, work)
        fallback = result = None
        if plan:
            expected = Expected(kept_frames / rate, bool(extras.sound), rate, join_windows(plan, gops))
            fallback = _smart(src, temp, index, plan, tracks, expected, work, report)
            if fallback is None:
                copied, encoded = plan.copy_frames / rate, (kept_frames - plan.copy_frames) / rate
                result = _figures("smart", len(frames), float(copied), float(encoded))
        if result is None:  # no smart render, or it failed its check
            temp.unlink(missing_ok=True)
            picture = reencode_picture(src, work, frames, rate, video_encoder(container), report)
            join(picture, tracks, temp, report)
            result = _figures("reencode", len(frames), 0.0, float(kept_frames / rate))
    if fallback:
        result["fallback_reason"] = fallback
    elif info.video.codec == "h264" and container.video != "h264":
        result["fallback_reason"] = f"a {temp.suffix} file holds {container.video}, so no H.264 GOP is copied"
    # Up to half a frame moves at each cut; over hundreds of cuts that adds up to seconds, so
    # whoever maps times through the cut (subtitles) must use these, not the ranges asked for.
    result["keep"] = [list(span) for span in exact.keep]
    return result


def _frame_rate(src: Path, info: MediaInfo) -> tuple[Fraction, float]:
    """The picture's frames per second, and how long the picture lasts in seconds."""
    with av.open(str(src)) as source:
        stream = source.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        length = float(stream.duration * stream.time_base) if stream.duration else info.duration
    if not rate:
        raise MediaError(NO_FRAME_RATE)
    return Fraction(rate), length


def _smart(
    src: Path,
    temp: Path,
    index: VideoIndex,
    plan: SmartPlan,
    tracks: list[Track],
    expected: Expected,
    work: Path,
    report: Progress,
) -> str | None:
    """Smart-render into `temp`: None if the result passed its check, else why it is to be redone.
    One set of worker processes serves the edges and the check after them."""
    try:
        workers = render_workers(src, index, plan, sum(stop - start for start, stop in expected.windows))
        with workers or contextlib.nullcontext() as pool:
            write_smart_video(src, work / "picture.mp4", index, plan, report, pool)
            join(work / "picture.mp4", tracks, temp, report)
            report(92.0, "Checking the result")
            return verify.fault(temp, expected, pool)
    except CANNOT_SMART_RENDER as exc:
        log.warning("smart render of %s failed, re-encoding instead", src, exc_info=True)
        return f"smart render failed: {exc}"


def _figures(mode: str, segments: int, copied: float, encoded: float) -> dict:
    return {
        "mode": mode,
        "segments": segments,
        "copied_seconds": round(copied, 3),
        "encoded_seconds": round(encoded, 3),
    }
