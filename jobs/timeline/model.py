"""A timeline for editors, built from a cut list: the kept ranges as clips on the source's frame grid.

Every time is a whole number of frames at the source's rate, so each writer states the same cut
exactly in its own units (rational seconds, timecode, frame numbers).
"""

import os
from dataclasses import dataclass, replace
from fractions import Fraction
from math import ceil, floor
from pathlib import Path
from urllib.parse import quote

from jobs.cutlist import CutList
from jobs.probe import MediaInfo
from jobs.timeline.source import SourceFacts

MARKER_NAME = "Pause {seconds:.2f} s removed"
# Editors' own defaults for an audio-only timeline's picture.
AUDIO_ONLY_SIZE = (1920, 1080)


@dataclass(frozen=True)
class Media:
    """The source file as the timeline refers to it."""

    location: str  # the path as written: relative to the timeline's folder, or absolute
    name: str  # the file name, which editors show as the clip's name
    frames: int  # length in frames at `rate`
    rate: Fraction
    width: int | None  # None for audio-only sources
    height: int | None
    sample_rate: int
    audio_channels: tuple[int, ...]  # channels of each sound track, in file order
    video_stream: int | None  # stream indexes in the file, for MLT
    colorspace: int  # 601 or 709: the YUV matrix of the picture, which MLT must convert with
    audio_streams: tuple[int, ...]
    start_frame: int  # the source's start timecode as a frame count
    drop_frame: bool

    @property
    def has_video(self) -> bool:
        return self.width is not None

    @property
    def frame_size(self) -> tuple[int, int]:
        return (self.width, self.height) if self.has_video else AUDIO_ONLY_SIZE

    @property
    def url(self) -> str:
        """`location` as a URL: file:// when absolute, a relative reference otherwise."""
        if os.path.isabs(self.location):
            return Path(self.location).as_uri()
        return quote(Path(self.location).as_posix())

    @property
    def stem(self) -> str:
        return Path(self.name).stem


@dataclass(frozen=True)
class Clip:
    """A kept range: source frames [source_in, source_out) placed at record frame record_in."""

    source_in: int
    source_out: int
    record_in: int

    @property
    def frames(self) -> int:
        return self.source_out - self.source_in

    @property
    def record_out(self) -> int:
        return self.record_in + self.frames


@dataclass(frozen=True)
class Marker:
    """Where a pause was removed: on clip `clip`, `offset` frames into it."""

    clip: int
    offset: int
    record_frame: int
    removed_frames: int
    rate: Fraction

    @property
    def name(self) -> str:
        return MARKER_NAME.format(seconds=float(self.removed_frames / self.rate))


@dataclass(frozen=True)
class Caption:
    """A subtitle on the timeline: record frames [record_in, record_out)."""

    record_in: int
    record_out: int
    lines: tuple[str, ...]


@dataclass(frozen=True)
class SubtitleFile:
    """The subtitles written beside the timeline as SRT: the file's name there, which Kdenlive
    refers to, and its text, which Shotcut holds in the project itself."""

    name: str
    srt: str


@dataclass(frozen=True)
class Timeline:
    name: str
    media: Media
    clips: tuple[Clip, ...]
    markers: tuple[Marker, ...]
    captions: tuple[Caption, ...] = ()
    language: str = "en"  # the captions' language
    subtitles: SubtitleFile | None = None  # the same captions as the SRT beside the timeline

    @property
    def rate(self) -> Fraction:
        return self.media.rate

    @property
    def frames(self) -> int:
        return self.clips[-1].record_out if self.clips else 0

    def seconds(self, frames: int) -> Fraction:
        return frames / self.rate

    def clip_at(self, record_frame: int) -> int:
        """The index of the clip that plays at `record_frame` (the last one past the end)."""
        for index, clip in enumerate(self.clips):
            if record_frame < clip.record_out:
                return index
        return len(self.clips) - 1

    def with_captions(
        self, cues: list, language: str | None, subtitles: SubtitleFile | None = None
    ) -> "Timeline":
        """This timeline with subtitle cues (seconds on the cut, as jobs.subtitles builds them) on
        its frame grid, a cue keeping at least one frame; and with `subtitles`, the same cues as
        the SRT written beside it."""
        captions = []
        for cue in cues:
            start = round(Fraction(cue.start) * self.rate)
            end = max(start + 1, round(Fraction(cue.end) * self.rate))
            captions.append(Caption(start, min(end, self.frames), tuple(cue.lines)))
        return replace(
            self,
            captions=tuple(c for c in captions if c.record_in < self.frames),
            language=language or "en",
            subtitles=subtitles,
        )

    def as_cutlist(self) -> CutList:
        """The cut as the timeline makes it (snapped to frames), to fit subtitles to."""
        keep = [(float(self.seconds(c.source_in)), float(self.seconds(c.source_out))) for c in self.clips]
        return CutList(float(self.seconds(self.media.frames)), keep)


def build_timeline(
    cutlist: CutList, info: MediaInfo, facts: SourceFacts, location: str, name: str
) -> Timeline:
    """The timeline of `cutlist` over the source `info`/`facts`, referring to it as `location`."""
    media = Media(
        location=location,
        name=Path(location).name,
        frames=floor(info.duration * facts.rate),
        rate=facts.rate,
        width=info.video.width if info.video else None,
        height=info.video.height if info.video else None,
        sample_rate=info.audio.sample_rate if info.audio else 48000,
        audio_channels=facts.audio_channels,
        video_stream=facts.video_stream,
        colorspace=facts.colorspace,
        audio_streams=facts.audio_streams,
        start_frame=facts.start_frame,
        drop_frame=facts.drop_frame,
    )
    ranges = snap_ranges(cutlist.keep, facts.rate, media.frames)
    clips, record = [], 0
    for start, end in ranges:
        clips.append(Clip(start, end, record))
        record += end - start
    return Timeline(name, media, tuple(clips), tuple(_markers(clips, media)))


def snap_ranges(keep: list[tuple[float, float]], rate: Fraction, frames: int) -> list[tuple[int, int]]:
    """Kept ranges in seconds as frame ranges within the source. Each edge goes to the frame just
    before or after it, chosen so that the timeline's length stays within half a frame of the kept
    length however many clips there are (rounding each edge alone could drift half a frame a clip).
    Ranges shorter than a frame may go; ranges that come to touch become one clip."""
    snapped, drift = [], Fraction(0)
    for start, end in keep:
        exact_start, exact_end = Fraction(start) * rate, Fraction(end) * rate
        low = snapped[-1][1] if snapped else 0
        first, last = min(
            _edge_pairs(exact_start, exact_end, low, frames),
            key=lambda pair: (
                abs(drift + (pair[1] - pair[0]) - (exact_end - exact_start)),
                _off(pair, exact_start, exact_end),
            ),
            default=(None, None),
        )
        if first is None:
            continue
        drift += (last - first) - (exact_end - exact_start)
        if last == first:
            continue
        if snapped and first <= snapped[-1][1]:
            snapped[-1] = (snapped[-1][0], last)
        else:
            snapped.append((first, last))
    return snapped


def _edge_pairs(exact_start: Fraction, exact_end: Fraction, low: int, high: int) -> list[tuple[int, int]]:
    """The frame edges a range may take: each the frame before or after its exact edge, inside
    [low, high] (after the previous clip, within the source)."""
    starts = {min(max(edge, low), high) for edge in (floor(exact_start), ceil(exact_start))}
    ends = {min(max(edge, low), high) for edge in (floor(exact_end), ceil(exact_end))}
    pairs = [(first, last) for first in starts for last in ends if last > first]
    # A range shorter than a frame may also go, if keeping a whole frame of it drifts further.
    return pairs + [(low, low)] if exact_end - exact_start < 1 else pairs


def _off(pair: tuple[int, int], exact_start: Fraction, exact_end: Fraction) -> Fraction:
    return abs(pair[0] - exact_start) + abs(pair[1] - exact_end)


def _markers(clips: list[Clip], media: Media) -> list[Marker]:
    """A marker at each removed pause: at the start of the clip after it; a pause at the very end
    is marked on the last frame of the last clip."""
    markers, cursor = [], 0
    for index, clip in enumerate(clips):
        if clip.source_in > cursor:
            markers.append(Marker(index, 0, clip.record_in, clip.source_in - cursor, media.rate))
        cursor = clip.source_out
    if clips and cursor < media.frames:
        last = clips[-1]
        markers.append(
            Marker(len(clips) - 1, last.frames - 1, last.record_out - 1, media.frames - cursor, media.rate)
        )
    return markers
