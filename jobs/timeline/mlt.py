"""MLT XML (.mlt) as Shotcut writes it: a profile at the source's size and rate, the source in the
bin, one track holding the kept ranges (and a second, audio-only, for a second sound track) over
Shotcut's black background, and the pause markers as Shotcut markers. Subtitles are a Shotcut
subtitle track (24.10 and later): a hidden subtitle_feed filter on the main tractor holding the SRT.

MLT's in and out points are inclusive frame numbers; a relative resource is found from the XML's
own folder (no `root` attribute is written).
"""

from xml.etree.ElementTree import Element

from jobs.timeline.model import Media, Timeline
from jobs.timeline.xmltext import document, element, properties

MLT_VERSION = "7.12.0"
MARKER_COLOR = "#ff0000"
SUBTITLE_TRACK = "Subtitles"
# Shotcut names a subtitle track's language with ISO 639-2 codes; Whisper's are ISO 639-1. The
# common ones are named here; any other code is written as it is.
ISO_639_2 = {
    "ar": "ara", "de": "ger", "en": "eng", "es": "spa", "fr": "fre", "hi": "hin", "it": "ita",
    "ja": "jpn", "ko": "kor", "nl": "dut", "pl": "pol", "pt": "por", "ru": "rus", "sv": "swe",
    "tr": "tur", "uk": "ukr", "zh": "chi",
}  # fmt: skip


def to_mlt(timeline: Timeline) -> str:
    media = timeline.media
    root = element(None, "mlt", LC_NUMERIC="C", version=MLT_VERSION, title=timeline.name, producer="main_bin")
    profile(root, media)
    producers = [_producer(root, "producer0", media, media.video_stream, _stream(media.audio_streams, 0))]
    if len(media.audio_streams) > 1:
        producers.append(_producer(root, "producer1", media, None, media.audio_streams[1]))
    bin_ = element(root, "playlist", id="main_bin")
    properties(bin_, xml_retain=1)
    element(bin_, "entry", producer="producer0", in_=0, out=media.frames - 1)
    _background(root, timeline)
    playlists = [_playlist(root, number, producer, timeline) for number, producer in enumerate(producers)]
    tractor = element(root, "tractor", id="tractor0", title=timeline.name, in_=0, out=timeline.frames - 1)
    properties(tractor, shotcut=1)
    _markers(tractor, timeline)
    element(tractor, "track", producer="background")
    for name, audio_only in playlists:
        element(tractor, "track", producer=name, hide="video" if audio_only else None)
    for track in range(1, len(playlists) + 1):
        transition(tractor, f"mix{track}", 0, track, mlt_service="mix", always_active=1, sum=1)
    if media.has_video:
        transition(tractor, "blend1", 0, 1, mlt_service="qtblend", disable=1)
    if timeline.subtitles:
        _subtitle_track(tractor, timeline)
    return document(root)


def _subtitle_track(tractor: Element, timeline: Timeline) -> None:
    """Shotcut's subtitle track: the whole SRT in a feed filter it hides from the filter list."""
    feed = element(tractor, "filter", id="subtitles")
    language = ISO_639_2.get(timeline.language, timeline.language)
    properties(feed, mlt_service="subtitle_feed", feed=SUBTITLE_TRACK, lang=language)
    properties(feed, shotcut__hidden=1, text=timeline.subtitles.srt)


def _background(root: Element, timeline: Timeline) -> None:
    """Shotcut's black bottom track, as long as the timeline."""
    last = timeline.frames - 1
    black = element(root, "producer", id="black", in_=0, out=last)
    properties(black, length=timeline.frames, eof="pause", resource=0, aspect_ratio=1, mlt_service="color")
    properties(black, mlt_image_format="rgba", **{"set.test_audio": 0})
    element(element(root, "playlist", id="background"), "entry", producer="black", in_=0, out=last)


def _playlist(root: Element, number: int, producer: str, timeline: Timeline) -> tuple[str, bool]:
    """Track `number`: the kept ranges of `producer`; the first is V1 unless the source has no picture."""
    audio_only = number > 0 or not timeline.media.has_video
    playlist = element(root, "playlist", id=f"playlist{number}")
    kind = {"shotcut__audio": 1} if audio_only else {"shotcut__video": 1}
    properties(playlist, **kind, shotcut__name=f"A{number + 1}" if audio_only else "V1")
    for clip in timeline.clips:
        element(playlist, "entry", producer=producer, in_=clip.source_in, out=clip.source_out - 1)
    return playlist.get("id"), audio_only


def profile(root: Element, media: Media) -> None:
    width, height = media.frame_size
    element(
        root,
        "profile",
        description=f"{width}x{height} {float(media.rate):.3f} fps",
        width=width,
        height=height,
        progressive=1,
        sample_aspect_num=1,
        sample_aspect_den=1,
        display_aspect_num=width,
        display_aspect_den=height,
        frame_rate_num=media.rate.numerator,
        frame_rate_den=media.rate.denominator,
        colorspace=media.colorspace,
    )


def transition(parent: Element, name: str, a_track: int, b_track: int, **values: object) -> Element:
    node = element(parent, "transition", id=name)
    properties(node, a_track=a_track, b_track=b_track, **values)
    return node


def avformat_properties(node: Element, media: Media, video: int | None, audio: int | None) -> None:
    """What MLT's avformat producer needs to open the source's chosen picture and sound streams."""
    properties(
        node,
        length=media.frames,
        eof="pause",
        resource=media.location,
        mlt_service="avformat-novalidate",
        seekable=1,
        video_index=-1 if video is None else video,
        audio_index=-1 if audio is None else audio,
    )


def _producer(root: Element, name: str, media: Media, video: int | None, audio: int | None) -> str:
    node = element(root, "producer", id=name, in_=0, out=media.frames - 1)
    avformat_properties(node, media, video, audio)
    properties(node, shotcut__caption=media.name)
    return name


def _stream(streams: tuple[int, ...], position: int) -> int | None:
    return streams[position] if len(streams) > position else None


def _markers(tractor: Element, timeline: Timeline) -> None:
    """Shotcut keeps markers as a nested property list on the main tractor, times as clock strings."""
    markers = element(tractor, "properties", name="shotcut:markers")
    for number, marker in enumerate(timeline.markers):
        entry = element(markers, "properties", name=number)
        at = _clock(timeline.seconds(marker.record_frame))
        properties(entry, text=marker.name, start=at, end=at, color=MARKER_COLOR)


def _clock(seconds) -> str:
    millis = round(seconds * 1000)
    minutes, millis = divmod(millis, 60_000)
    return f"{minutes // 60:02d}:{minutes % 60:02d}:{millis // 1000:02d}.{millis % 1000:03d}"
