"""Final Cut Pro 7 XML (xmeml version 5), the XML Premiere Pro imports (DaVinci Resolve reads it too).

One video track and one audio track per sound track of the source; each kept range is a clip item
on every track, the items of one range linked so they move together. Frame numbers throughout;
the file's <timecode> carries the source's start timecode.
"""

from xml.etree.ElementTree import Element

from jobs.timeline.model import Clip, Media, Timeline
from jobs.timeline.timecode import frames_to_timecode
from jobs.timeline.xmltext import document, element

FILE_ID = "file-1"


def to_xmeml(timeline: Timeline) -> str:
    media = timeline.media
    root = element(None, "xmeml", version=5)
    sequence = element(root, "sequence", id="sequence-1")
    element(sequence, "name", timeline.name)
    element(sequence, "duration", timeline.frames)
    _rate(sequence, media)
    _timecode(sequence, media)
    lanes = _lanes(media)
    tracks = _tracks(element(sequence, "media"), media, lanes)
    for number, clip in enumerate(timeline.clips, start=1):
        for lane in lanes:
            item = _clipitem(
                tracks[lane], _item_id(lane, number), media, clip, lane, number == 1 and lane == lanes[0]
            )
            for other in lanes:
                link = element(item, "link")
                element(link, "linkclipref", _item_id(other, number))
                element(link, "mediatype", other[0])
                element(link, "trackindex", other[1])
                element(link, "clipindex", number)
    for marker in timeline.markers:
        node = element(sequence, "marker")
        element(node, "name", marker.name)
        element(node, "comment", "")
        element(node, "in", marker.record_frame)
        element(node, "out", -1)
    return document(root, doctype="xmeml")


def _lanes(media: Media) -> list[tuple[str, int]]:
    """(media type, track number) of every track the sequence has."""
    video = [("video", 1)] if media.has_video else []
    return video + [("audio", number) for number in range(1, len(media.audio_channels) + 1)]


def _tracks(parent: Element, media: Media, lanes: list[tuple[str, int]]) -> dict[tuple[str, int], Element]:
    groups = {}
    if media.has_video:
        groups["video"] = element(parent, "video")
        _video_format(groups["video"], media)
    if media.audio_channels:
        groups["audio"] = element(parent, "audio")
        element(groups["audio"], "numOutputChannels", 2)
        _audio_format(element(groups["audio"], "format"), media)
    return {lane: element(groups[lane[0]], "track") for lane in lanes}


def _item_id(lane: tuple[str, int], number: int) -> str:
    return f"clipitem-{lane[0][0]}{lane[1]}-{number}"


def _clipitem(track: Element, item_id: str, media: Media, clip: Clip, lane: tuple[str, int], full_file: bool):
    item = element(track, "clipitem", id=item_id)
    element(item, "masterclipid", "masterclip-1")
    element(item, "name", media.name)
    element(item, "enabled", "TRUE")
    element(item, "duration", media.frames)
    _rate(item, media)
    element(item, "start", clip.record_in)
    element(item, "end", clip.record_out)
    element(item, "in", clip.source_in)
    element(item, "out", clip.source_out)
    if full_file:  # the file is described once; later items refer to it by id
        _file(item, media)
    else:
        element(item, "file", id=FILE_ID)
    if lane[0] == "audio":
        source = element(item, "sourcetrack")
        element(source, "mediatype", "audio")
        element(source, "trackindex", lane[1])
    return item


def _file(item: Element, media: Media) -> None:
    file = element(item, "file", id=FILE_ID)
    element(file, "name", media.name)
    element(file, "pathurl", media.url)
    _rate(file, media)
    element(file, "duration", media.frames)
    _timecode(file, media)
    described = element(file, "media")
    if media.has_video:
        _video_format(element(described, "video"), media)
    for channels in media.audio_channels:
        audio = element(described, "audio")
        _audio_format(audio, media)
        element(audio, "channelcount", channels)


def _rate(parent: Element, media: Media) -> None:
    rate = element(parent, "rate")
    element(rate, "timebase", round(media.rate))
    element(rate, "ntsc", "TRUE" if media.rate.denominator == 1001 else "FALSE")


def _timecode(parent: Element, media: Media) -> None:
    timecode = element(parent, "timecode")
    _rate(timecode, media)
    element(timecode, "string", frames_to_timecode(media.start_frame, media.rate, media.drop_frame))
    element(timecode, "frame", media.start_frame)
    element(timecode, "displayformat", "DF" if media.drop_frame else "NDF")


def _video_format(parent: Element, media: Media) -> None:
    characteristics = element(element(parent, "format"), "samplecharacteristics")
    _rate(characteristics, media)
    element(characteristics, "width", media.width)
    element(characteristics, "height", media.height)
    element(characteristics, "pixelaspectratio", "square")
    element(characteristics, "fielddominance", "none")


def _audio_format(parent: Element, media: Media) -> None:
    characteristics = element(parent, "samplecharacteristics")
    element(characteristics, "depth", 16)
    element(characteristics, "samplerate", media.sample_rate)
