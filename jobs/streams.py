"""The streams beside the main picture and sound: which a result keeps, what it drops, and cutting subtitles.

A recording can carry more than one picture and one sound: other sound tracks (a second
microphone, another language), subtitle tracks, timecode or GPS data, attached fonts or a cover
picture. A result keeps every extra sound track its container can hold and every text subtitle
track its container has a subtitle format for; the rest is listed as dropped, so nobody loses a
track without being told.
"""

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av

from jobs.containers import Container
from jobs.cutlist import CutList

# Subtitles made of text, which convert into one another; the others (PGS, DVD, DVB) are pictures.
TEXT_SUBTITLES = {"subrip", "ass", "ssa", "webvtt", "mov_text", "text"}
# Where a cut text subtitle track waits for the join: a container that holds its codec as it is.
SUBTITLE_SCRATCH = {"mov_text": ".mp4"}


@dataclass
class Extras:
    """The source's streams other than its main picture and first sound, sorted into kept and dropped."""

    sound: list["SoundTrack"] = field(default_factory=list)  # every sound track kept, the first first
    subtitles: list["SubtitleTrack"] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)  # descriptions, for the person


@dataclass
class SoundTrack:
    number: int  # position among the source's sound tracks (ffmpeg's a:N)
    sample_rate: int
    channels: int
    metadata: dict[str, str]  # language and title, carried over


@dataclass
class SubtitleTrack:
    index: int  # the stream's index in the source
    codec: str  # the codec to write it as
    metadata: dict[str, str]  # language and title, carried over


def extra_streams(
    src: str | Path, container: Container, *, keep_audio: bool = True, keep_subtitles: bool = True
) -> Extras:
    """Sort the streams of `src` beyond the main picture and first sound for a `container` result.

    Every sound track is kept when `keep_audio` (else only the first, which the caller writes
    on its own); text subtitles
    when `keep_subtitles` and the container holds subtitles, converted to its format if need be.
    """
    extras = Extras()
    with av.open(str(src)) as source:
        main_video = next((s for s in source.streams.video if not _is_cover(s)), None)
        for number, stream in enumerate(source.streams.audio):
            if keep_audio:
                context = stream.codec_context
                extras.sound.append(
                    SoundTrack(number, context.sample_rate, context.channels, _labels(stream))
                )
            elif number > 0:
                extras.dropped.append(_describe(stream, f"sound track {number + 1}"))
        for number, stream in enumerate(source.streams.subtitles):
            codec = _codec(stream)
            if keep_subtitles and codec in TEXT_SUBTITLES and container.subtitles:
                target = codec if codec in container.subtitles else container.subtitles[0]
                extras.subtitles.append(SubtitleTrack(stream.index, target, _labels(stream)))
            else:
                extras.dropped.append(_describe(stream, f"subtitle track {number + 1}"))
        for stream in source.streams:
            if stream.type == "video" and stream is not main_video:
                extras.dropped.append(
                    _describe(stream, "cover picture" if _is_cover(stream) else "video track")
                )
            elif stream.type in ("data", "attachment"):
                extras.dropped.append(_describe(stream, f"{stream.type} stream"))
    return extras


def write_cut_subtitles(src: Path, track: SubtitleTrack, cutlist: CutList, work: Path) -> Path:
    """Write the cues of `track` that `cutlist` keeps, moved onto the cut's timeline, into `work`.

    Times are measured from the start of the main stream, as the cut list's are. A cue that
    straddles a cut keeps its kept part; a cue wholly cut out goes. The cues keep the source's
    codec here; the join converts them to `track.codec`.
    """
    with av.open(str(src)) as source:
        stream = source.streams[track.index]
        origin = _main_start(source)
        scratch = work / f"subtitles-{track.index}{SUBTITLE_SCRATCH.get(_codec(stream), '.mkv')}"
        with av.open(str(scratch), "w") as out:
            target = out.add_stream_from_template(stream)
            for packet in source.demux(stream):
                if packet.pts is None:
                    continue
                base = packet.time_base
                start = float(packet.pts * base) - origin
                span = cutlist.map_span(start, start + float((packet.duration or 0) * base))
                if span is None:
                    continue
                packet.stream = target
                packet.pts = packet.dts = round(Fraction(span[0]) / base)
                packet.duration = round(Fraction(span[1] - span[0]) / base)
                out.mux(packet)
    return scratch


def _main_start(source) -> float:
    """Where the main picture (else the first sound) starts, in seconds: the cut list's time zero."""
    video = [s for s in source.streams.video if not _is_cover(s)]
    main = (video or list(source.streams.audio))[0]
    return float(main.start_time * main.time_base) if main.start_time else 0.0


def _labels(stream) -> dict[str, str]:
    return {key: value for key, value in stream.metadata.items() if key in ("language", "title")}


def _is_cover(stream) -> bool:
    return bool(stream.disposition & av.stream.Disposition.attached_pic)


def _codec(stream) -> str:
    context = stream.codec_context
    return context.codec.canonical_name if context and context.codec else "unknown"


def _describe(stream, what: str) -> str:
    """E.g. "subtitle track 2 (hdmv_pgs_subtitle, eng)", "data stream (eng, timecode 01:00:00:00)"."""
    codec = _codec(stream)
    details = [codec] if codec != "unknown" else []
    details += [stream.metadata[key] for key in ("language", "title", "filename") if stream.metadata.get(key)]
    if stream.metadata.get("timecode"):
        details.append(f"timecode {stream.metadata['timecode']}")
    return f"{what} ({', '.join(details)})" if details else what
