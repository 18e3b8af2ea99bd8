"""The check after a smart render: index before media data, track lengths, every frame's packet
in place, and a decode of every place a join can break."""

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from jobs.containers import muxer_flags
from jobs.render.mux import sound_fits, sound_frame, stream_durations, top_level_boxes
from jobs.render.parallel import Processes
from jobs.render.plan import Window, split_frames


@dataclass(frozen=True)
class Expected:
    """What a smart render must come out as."""

    duration: Fraction  # of the picture, in seconds
    with_audio: bool
    rate: Fraction  # frames per second
    windows: list[Window]  # output frames where a join can break (see plan.join_windows)

    @property
    def frames(self) -> int:
        return round(self.duration * self.rate)


def fault(path: Path, expected: Expected, pool: Processes | None = None) -> str | None:
    """None if `path` is laid out, lasts and decodes as planned, else what is wrong.

    Copied GOPs are the source's own packets, re-encoded pieces x264's; what can break is at the
    joins. So every frame must have its one packet at its place, and only the `windows` (the first
    frames after every join) are decoded: every frame in them must come out, and the decoder must
    report no error. The decoding is shared out between `pool`'s workers where there is one.
    """
    if muxer_flags(path):
        boxes = top_level_boxes(path)
        if "moov" not in boxes or "mdat" not in boxes or boxes.index("moov") > boxes.index("mdat"):
            return "the index (moov) does not come before the media data"
    video, audio = stream_durations(path)
    frame = float(1 / expected.rate)
    if video is None or abs(video - float(expected.duration)) > frame:
        return f"picture lasts {video} s instead of {float(expected.duration):.3f} s"
    if expected.with_audio and (audio is None or not sound_fits(video, audio, frame, sound_frame(path))):
        return f"sound lasts {audio} s, picture {video} s"
    return misplaced_frames(path, expected.frames, expected.rate) or decode_errors(
        path, expected.windows, expected.rate, pool
    )


def misplaced_frames(path: Path, frames: int, rate: Fraction) -> str | None:
    """None if the picture's packets show frames 0 .. `frames` - 1 once each, else which do not.

    Reads packets only (no decoding): a few milliseconds a minute of video."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        ticks = 1 / (rate * stream.time_base)  # stream time-base units per frame
        first = stream.start_time or 0
        packets = (packet for packet in container.demux(stream) if packet.pts is not None)
        shown = sorted(round((packet.pts - first) / ticks) for packet in packets)
    if shown != list(range(frames)):
        wrong = next((i for i, at in enumerate(shown) if at != i), len(shown))
        return f"frames out of place from frame {wrong}: {len(shown)} frames for {frames}"
    return None


def decode_errors(path: Path, windows: list[Window], rate: Fraction, pool: Processes | None) -> str | None:
    """Decode the video frames of `windows` (output frame numbers), each from the keyframe before it.

    None if every frame decodes and ffmpeg's decoder logs no error, else the first complaint. PyAV
    holds the GIL while it decodes, so with a `pool` the windows are shared out between its workers.
    """
    if not pool:
        return _decode_errors(path, windows, rate)
    runs = split_frames(windows, pool.workers)
    checked = pool.map(_decode_errors, [path] * len(runs), runs, [rate] * len(runs))
    return next((complaint for complaint in checked if complaint), None)


def _decode_errors(path: Path, windows: list[Window], rate: Fraction) -> str | None:
    complaints: list[str] = []
    previous_level = av.logging.get_level()
    av.logging.set_level(av.logging.ERROR)
    try:
        with av.logging.Capture(local=False) as logs, av.open(str(path)) as container:
            stream = container.streams.video[0]
            # One decoding thread: with frame threads, FFmpeg logs from its own threads into the
            # Python capture, which can deadlock on the GIL (seen here as a hung check).
            stream.thread_type = "NONE"
            stream.codec_context.thread_count = 1
            time_base = stream.time_base
            first = stream.start_time or 0
            for start, stop in windows:
                complaint = _decode_window(container, stream, first, time_base, rate, start, stop)
                if complaint:
                    complaints.append(complaint)
                    break
                if logs:
                    break
            complaints += [
                f"{name}: {message.strip()}" for level, name, message in logs if level <= av.logging.ERROR
            ]
    except av.error.FFmpegError as exc:
        complaints.append(str(exc))
    finally:
        av.logging.set_level(previous_level)
    return "decoding errors: " + "; ".join(complaints)[:300] if complaints else None


def _decode_window(
    container, stream, first: int, time_base: Fraction, rate: Fraction, start: int, stop: int
) -> str | None:
    """Decode frames [start, stop) of the output from the keyframe before `start`; None if all came."""
    ticks = 1 / (rate * time_base)  # stream time-base units per frame
    container.seek(first + int(start * ticks), stream=stream, backward=True)
    seen = 0
    for frame in container.decode(stream):
        shown = round((frame.pts - first) / ticks)
        if shown >= stop:
            break
        seen += shown >= start
    if seen != stop - start:
        return f"frames {start}-{stop}: {seen} of {stop - start} decoded"
    return None
