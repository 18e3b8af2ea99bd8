"""A Kdenlive project (.kdenlive): MLT XML with Kdenlive's own layout, which it upgrades on opening.

The source is bin clip 2; each Kdenlive track is a tractor of two playlists (Kdenlive's "playlist
mixes"), audio tracks below the video track as Kdenlive orders them, over its black background. The
pause markers are project guides. A second sound track gets its own audio track, reading that stream.
Subtitles are Kdenlive's subtitle track (20.12 and later): its libass filter on the main tractor,
reading the SRT Kdenlive keeps beside the project (cut.kdenlive.srt), which melt burns in as well.
"""

import json
from xml.etree.ElementTree import Element

from jobs.timeline.mlt import MLT_VERSION, avformat_properties, profile, transition
from jobs.timeline.model import Media, Timeline
from jobs.timeline.xmltext import document, element, properties

DOCUMENT_VERSION = "1.04"  # the pre-sequence layout (Kdenlive 20.08 to 22.12), which later versions convert
KDENLIVE_VERSION = "22.12.3"
BIN_ID = 2
# Transitions Kdenlive adds itself between each track and the background carry this mark.
INTERNAL = 237
GUIDE_CATEGORY = 0


def to_kdenlive(timeline: Timeline) -> str:
    media = timeline.media
    root = element(None, "mlt", LC_NUMERIC="C", producer="main_bin", version=MLT_VERSION)
    profile(root, media)
    streams = media.audio_streams
    # One producer per sound track: the first also carries the picture, the others only their sound.
    producers = [("producer0", media.video_stream, streams[0] if streams else None)]
    producers += [(f"producer{n}", None, stream) for n, stream in enumerate(streams[1:], start=1)]
    for name, video, audio in producers:
        _producer(root, name, media, video, audio)
    _bin(root, timeline)
    black = element(root, "producer", id="black_track", in_=0, out=timeline.frames - 1)
    properties(black, length=timeline.frames, eof="continue", resource="black", aspect_ratio=1)
    properties(black, mlt_service="color", mlt_image_format="rgba", **{"set.test_audio": 0})
    # Kdenlive lists audio tracks first (bottom up), then the video track on top.
    tracks = [(name, True) for name, _, audio in producers if audio is not None]
    if media.has_video:
        tracks.append(("producer0", False))
    tractors = [_track(root, number, name, audio, timeline) for number, (name, audio) in enumerate(tracks)]
    _main_tractor(root, tractors, timeline)
    return document(root)


def _main_tractor(root: Element, tractors: list[tuple[str, bool]], timeline: Timeline) -> None:
    """The tracks over the black background, with the mix and compositing Kdenlive adds itself."""
    main = element(root, "tractor", id="maintractor", global_feed=1, in_=0, out=timeline.frames - 1)
    element(main, "track", producer="black_track")
    for name, _ in tractors:
        element(main, "track", producer=name)
    for index, (_, audio) in enumerate(tractors, start=1):
        values = {"always_active": 1, "internal_added": INTERNAL}
        if audio:
            transition(main, f"mix{index}", 0, index, mlt_service="mix", sum=1, **values)
        else:
            transition(main, f"composite{index}", 0, index, mlt_service="qtblend", compositing=0, **values)
    if timeline.subtitles:
        # A relative av.filename is found from the project's folder, as a producer's resource is.
        subtitles = element(main, "filter", id="subtitles")
        properties(subtitles, mlt_service="avfilter.subtitles", internal_added=INTERNAL, disable=0)
        properties(subtitles, **{"av.filename": timeline.subtitles.name, "kdenlive:locked": 0})


def _producer(root: Element, name: str, media: Media, video: int | None, audio: int | None) -> None:
    node = element(root, "producer", id=name, in_=0, out=media.frames - 1)
    avformat_properties(node, media, video, audio)
    clip_type = 0 if video is not None else 1  # Kdenlive's audio+video and audio-only clip kinds
    properties(node, kdenlive__id=BIN_ID, kdenlive__clipname=media.name, kdenlive__folderid=-1)
    properties(node, kdenlive__clip_type=clip_type)


def _bin(root: Element, timeline: Timeline) -> None:
    media = timeline.media
    guides = [
        {"comment": marker.name, "pos": marker.record_frame, "type": GUIDE_CATEGORY}
        for marker in timeline.markers
    ]
    bin_ = element(root, "playlist", id="main_bin")
    values = {
        "kdenlive:docproperties.version": DOCUMENT_VERSION,
        "kdenlive:docproperties.kdenliveversion": KDENLIVE_VERSION,
        "kdenlive:docproperties.guides": json.dumps(guides),
        "kdenlive:docproperties.documentid": "cutroom",
        "xml_retain": 1,
    }
    properties(bin_, **values)
    element(bin_, "entry", producer="producer0", in_=0, out=media.frames - 1)


def _track(root: Element, number: int, producer: str, audio: bool, timeline: Timeline) -> tuple[str, bool]:
    """A Kdenlive track: a tractor over two playlists, the clips in the first."""
    names = [f"playlist{2 * number}", f"playlist{2 * number + 1}"]
    for position, name in enumerate(names):
        playlist = element(root, "playlist", id=name)
        if audio:
            properties(playlist, kdenlive__audio_track=1)
        if position == 0:
            for clip in timeline.clips:
                entry = element(
                    playlist, "entry", producer=producer, in_=clip.source_in, out=clip.source_out - 1
                )
                properties(entry, kdenlive__id=BIN_ID)
    tractor = element(root, "tractor", id=f"tractor{number}", in_=0, out=timeline.frames - 1)
    if audio:
        properties(tractor, kdenlive__audio_track=1)
    properties(tractor, kdenlive__trackheight=67, kdenlive__timeline_active=1, kdenlive__collapsed=0)
    for name in names:
        element(tractor, "track", producer=name, hide="video" if audio else "audio")
    return tractor.get("id"), audio
