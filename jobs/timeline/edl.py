"""CMX 3600 EDL: one event per kept range with the video and the first sound track's channels, and
events on A3/A4 for a second sound track. Drop-frame timecode at 29.97 and 59.94 (unless the source's
own timecode is non-drop), non-drop otherwise; reel names from the file name; clip names and pause
markers as the comments Avid, Premiere and Resolve read (`* FROM CLIP NAME:`, `* LOC:`)."""

import re

from jobs.timeline.model import Clip, Media, Timeline
from jobs.timeline.timecode import frames_to_timecode

REEL_LENGTH = 8  # CMX 3600 reel names are at most eight characters
# Channels of the first sound track with the picture (B = V + A1), and without it.
WITH_VIDEO = {1: "B", 2: "AA/V"}
AUDIO_ONLY = {1: "A", 2: "AA"}
# CMX 3600 carries four audio channels: a second sound track gets A3 and A4.
SECOND_TRACK = ("A3", "A4")


def to_edl(timeline: Timeline) -> str:
    media = timeline.media
    lines = [
        f"TITLE: {_ascii(timeline.name)[:70]}",
        f"FCM: {'DROP FRAME' if media.drop_frame else 'NON-DROP FRAME'}",
        "",
    ]
    reel = reel_name(media.name)
    markers = {}
    for marker in timeline.markers:
        markers.setdefault(marker.clip, []).append(marker)
    number = 0
    for index, clip in enumerate(timeline.clips):
        for position, channel in enumerate(_channels(media)):
            number += 1
            lines.append(_event(number, reel, channel, clip, media))
            lines.append(f"* FROM CLIP NAME: {media.name}")
            lines.append(f"* SOURCE FILE: {media.location}")
            if channel in SECOND_TRACK:
                lines.append("* AUDIO FROM THE SECOND SOUND TRACK")
            if position == 0:
                for marker in markers.get(index, []):
                    at = _tc(media.start_frame + clip.source_in + marker.offset, media)
                    lines.append(f"* LOC: {at} YELLOW  {marker.name}")
            lines.append("")
    return "\n".join(lines)


def reel_name(file_name: str) -> str:
    """Eight characters from the file's name, as tape-era reel fields allow (AX when none is left)."""
    stem = file_name.rsplit(".", 1)[0]
    return re.sub(r"[^A-Z0-9_]", "_", _ascii(stem).upper())[:REEL_LENGTH].strip("_") or "AX"


def _channels(media: Media) -> list[str]:
    if not media.audio_channels:
        return ["V"]
    first = min(media.audio_channels[0], 2)
    channels = [(WITH_VIDEO if media.has_video else AUDIO_ONLY)[first]]
    if len(media.audio_channels) > 1:
        channels += list(SECOND_TRACK[: min(media.audio_channels[1], 2)])
    return channels


def _event(number: int, reel: str, channel: str, clip: Clip, media: Media) -> str:
    start = media.start_frame
    times = (start + clip.source_in, start + clip.source_out, start + clip.record_in, start + clip.record_out)
    return f"{number:03d}  {reel:<8} {channel:<5} C        " + " ".join(_tc(frame, media) for frame in times)


def _tc(frames: int, media: Media) -> str:
    return frames_to_timecode(frames, media.rate, media.drop_frame)


def _ascii(text: str) -> str:
    return text.encode("ascii", "replace").decode("ascii")
