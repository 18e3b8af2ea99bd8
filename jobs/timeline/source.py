"""What a timeline needs to know about its source beyond jobs.probe: the exact frame rate, the start
timecode and every sound track. Read with PyAV from the container's headers only (cheap)."""

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from jobs.errors import MediaError
from jobs.probe import MediaInfo
from jobs.timeline.timecode import is_drop_frame_rate, timecode_to_frames

# The rates editors' timelines run at; a source's stated rate is snapped to the nearest one.
STANDARD_RATES = tuple(
    Fraction(rate) for rate in ("24000/1001", "24", "25", "30000/1001", "30", "48", "50", "60000/1001", "60")
)
# How far (relative) a stated rate may be from a standard one and still be that one.
RATE_TOLERANCE = 0.001
# FFmpeg's colour matrix numbers (AVColorSpace) for BT.709 and the BT.601 pair.
MATRIX_TAGS = {1: 709, 5: 601, 6: 601}
# Audio-only sources still need a timeline rate: 30 fps, non-drop, as editors default to.
AUDIO_ONLY_RATE = Fraction(30)

VARIABLE_RATE = (
    "This video has a variable frame rate ({found}), so its frames cannot be placed on an editor's "
    "timeline exactly. Convert it to a constant frame rate (for example with HandBrake's 'Constant "
    "Framerate' or ffmpeg's -fps_mode cfr) and export again."
)


@dataclass(frozen=True)
class SourceFacts:
    rate: Fraction
    start_frame: int  # the start timecode as a frame count at `rate`; 0 when it has none
    drop_frame: bool  # whether that timecode counts drop-frame (without one: yes at 29.97 and 59.94)
    audio_channels: tuple[int, ...]  # channels of each sound track, in file order
    video_stream: int | None  # the picture's stream index in the file (what MLT's video_index means)
    colorspace: int  # the picture's YUV matrix: 601 or 709
    audio_streams: tuple[int, ...]  # each sound track's stream index


def read_facts(path: str | Path, info: MediaInfo) -> SourceFacts:
    """The exact rate, start timecode and sound tracks of `path`, or MediaError for a variable rate."""
    with av.open(str(path), metadata_errors="replace") as container:
        video = _main_video(container) if info.video else None
        rate = _constant_rate(video) if video else AUDIO_ONLY_RATE
        start_frame, drop = _start_timecode(container, rate)
        sounds = container.streams.audio
        return SourceFacts(
            rate=rate,
            start_frame=start_frame,
            drop_frame=drop,
            audio_channels=tuple(stream.codec_context.channels for stream in sounds),
            video_stream=video.index if video else None,
            colorspace=_colorspace(video),
            audio_streams=tuple(stream.index for stream in sounds),
        )


def _main_video(container) -> av.VideoStream | None:
    pictures = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
    return pictures[0] if pictures else None


def _constant_rate(stream: av.VideoStream) -> Fraction:
    """The standard rate the stream runs at. A variable-rate stream states an average that is no
    standard rate, or one that disagrees with its base rate (a phone's 29.98 average over 30)."""
    average = Fraction(stream.average_rate) if stream.average_rate else None
    rate = snap_rate(average) if average else None
    base = stream.base_rate and snap_rate(Fraction(stream.base_rate))
    if rate is None or (base and base != rate):
        found = f"{float(average):.3f} frames a second on average" if average else "no stated rate"
        raise MediaError(VARIABLE_RATE.format(found=found))
    return rate


def _colorspace(stream: av.VideoStream | None) -> int:
    """The matrix the picture is tagged with; untagged pictures follow the usual rule (601 below
    720 lines, 709 from there), as players and MLT assume."""
    if stream is None:
        return 709
    tag = int(stream.codec_context.colorspace or 0)
    if tag in MATRIX_TAGS:
        return MATRIX_TAGS[tag]
    return 709 if stream.codec_context.height >= 720 else 601


def snap_rate(rate: Fraction) -> Fraction | None:
    """The standard rate within RATE_TOLERANCE of `rate`, or None."""
    nearest = min(STANDARD_RATES, key=lambda standard: abs(standard - rate))
    return nearest if abs(nearest - rate) <= nearest * RATE_TOLERANCE else None


def _start_timecode(container, rate: Fraction) -> tuple[int, bool]:
    """The source's own start timecode: the container's tag, else a stream's (a QuickTime tmcd
    track shows as a data stream carrying it). Without one the timeline starts at zero, counted
    drop-frame at 29.97 and 59.94."""
    tags = [container.metadata] + [stream.metadata for stream in container.streams]
    for text in (tag.get("timecode") for tag in tags):
        if not text:
            continue
        try:
            return timecode_to_frames(text, rate)
        except ValueError:
            continue
    return 0, is_drop_frame_rate(rate)
