"""FCPXML (1.10, and 1.9 for older DaVinci Resolve) for Final Cut Pro and DaVinci Resolve.

One asset-clip per kept range on the project's spine; times are exact rational seconds on the
source's frame grid. Subtitles fitted to the cut become iTT captions (FCPXML 1.8 and later) connected
to the clips. A second sound track is the asset's second audio source, which Final Cut shows
as a second audio component of each clip.
"""

from fractions import Fraction
from functools import partial
from xml.etree.ElementTree import Element

from jobs.timeline.model import Caption, Media, Timeline
from jobs.timeline.xmltext import document, element

CAPTION_NAME_LENGTH = 40  # how much of a caption's text names it in Final Cut's timeline


def fcpxml_time(frames: int, rate: Fraction) -> str:
    """`frames` as FCPXML time: a whole multiple of the frame duration (1001/30000s, 1/25s, …)."""
    return f"{frames * rate.denominator}/{rate.numerator}s" if frames else "0s"


def to_fcpxml(timeline: Timeline, version: str = "1.10") -> str:
    root = element(None, "fcpxml", version=version)
    _resources(element(root, "resources"), timeline.media)
    event = element(element(root, "library"), "event", name="Cutroom")
    project = element(event, "project", name=timeline.name)
    _sequence(project, timeline)
    return document(root, doctype="fcpxml")


def _resources(resources: Element, media: Media) -> None:
    """The timeline's format (the source's, or a 1080p30 one for sound) and the source as asset r2."""
    time = partial(fcpxml_time, rate=media.rate)
    width, height = media.frame_size
    element(resources, "format", id="r1", frameDuration=time(1), width=width, height=height)
    channels, video = media.audio_channels, media.has_video
    asset = element(
        resources,
        "asset",
        id="r2",
        name=media.stem,
        start=time(media.start_frame),
        duration=time(media.frames),
        hasVideo=int(video),
        format="r1" if video else None,
        videoSources=1 if video else None,
        hasAudio=int(bool(channels)),
        audioSources=len(channels) or None,
        audioChannels=channels[0] if channels else None,
        audioRate=media.sample_rate if channels else None,
    )
    element(asset, "media-rep", kind="original-media", src=media.url)


def _sequence(project: Element, timeline: Timeline) -> None:
    """The spine of asset-clips; offsets run from the start timecode, as Final Cut's do."""
    media = timeline.media
    time = partial(fcpxml_time, rate=media.rate)
    tc_format = "DF" if media.drop_frame else "NDF"
    channels = media.audio_channels
    sequence = element(
        project,
        "sequence",
        format="r1",
        duration=time(timeline.frames),
        tcStart=time(media.start_frame),
        tcFormat=tc_format,
        audioLayout="mono" if channels and channels[0] == 1 else "stereo",
        audioRate=_audio_rate(media.sample_rate),
    )
    spine = element(sequence, "spine")
    clips = [
        element(
            spine,
            "asset-clip",
            ref="r2",
            offset=time(media.start_frame + clip.record_in),
            name=f"{media.stem} ({number})",
            start=time(media.start_frame + clip.source_in),
            duration=time(clip.frames),
            tcFormat=tc_format,
            audioRole="dialogue",
        )
        for number, clip in enumerate(timeline.clips, start=1)
    ]
    for marker in timeline.markers:
        at = media.start_frame + timeline.clips[marker.clip].source_in + marker.offset
        element(clips[marker.clip], "marker", start=time(at), duration=time(1), value=marker.name)
    for number, caption in enumerate(timeline.captions, start=1):
        _caption(clips, number, caption, timeline)


def _caption(clips: list[Element], number: int, caption: Caption, timeline: Timeline) -> None:
    """A subtitle connected above the clip playing when it starts; its offset is in that clip's own
    (source) time, as connected items' are."""
    index = timeline.clip_at(caption.record_in)
    clip, media = timeline.clips[index], timeline.media
    time = partial(fcpxml_time, rate=media.rate)
    at = media.start_frame + clip.source_in + caption.record_in - clip.record_in
    node = element(
        clips[index],
        "caption",
        lane=1,
        offset=time(at),
        name=" ".join(caption.lines)[:CAPTION_NAME_LENGTH],
        start="3600s",  # captions keep Final Cut's own one-hour start for generated media
        duration=time(caption.record_out - caption.record_in),
        role=f"iTT?captionFormat=ITT.{timeline.language}",
    )
    style = f"caption-style-{number}"  # text-style-def ids are unique in the whole document
    element(element(node, "text", placement="bottom"), "text-style", "\n".join(caption.lines), ref=style)
    definition = element(node, "text-style-def", id=style)
    element(
        definition,
        "text-style",
        font=".SF NS Text",
        fontSize=13,
        fontColor="1 1 1 1",
        backgroundColor="0 0 0 1",
    )


def _audio_rate(sample_rate: int) -> str:
    """Final Cut's names for sequence sample rates: 48k, 44.1k, 96k, …"""
    return f"{sample_rate / 1000:g}k"
