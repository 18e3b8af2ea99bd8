"""FCPXML (1.10, and 1.9 for older DaVinci Resolve) for Final Cut Pro and DaVinci Resolve.

One asset-clip per kept range on the project's spine; times are exact rational seconds on the
source's frame grid. A second sound track is the asset's second audio source, which Final Cut shows
as a second audio component of each clip.
"""

from fractions import Fraction
from functools import partial
from xml.etree.ElementTree import Element

from jobs.timeline.model import Media, Timeline
from jobs.timeline.xmltext import document, element

VERSIONS = ("1.10", "1.9")


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


def _audio_rate(sample_rate: int) -> str:
    """Final Cut's names for sequence sample rates: 48k, 44.1k, 96k, …"""
    return f"{sample_rate / 1000:g}k"
