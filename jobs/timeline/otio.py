"""OpenTimelineIO's JSON (.otio), written out directly (the library itself is only a test consumer).

A video track and one audio track per sound track of the source; every clip refers to the file,
whose available range starts at the source's timecode, so clip source ranges are in media time.
"""

import json

from jobs.timeline.model import Clip, Marker, Media, Timeline

# OTIO's named marker colours.
MARKER_COLOR = "RED"


def to_otio(timeline: Timeline) -> str:
    media = timeline.media
    markers = {}
    for marker in timeline.markers:
        markers.setdefault(marker.clip, []).append(marker)
    tracks = []
    if media.has_video:
        tracks.append(_track("V1", "Video", timeline, markers, sound_track=None))
    for number in range(1, len(media.audio_channels) + 1):
        own_markers = markers if not tracks else {}
        tracks.append(_track(f"A{number}", "Audio", timeline, own_markers, sound_track=number))
    document = {
        "OTIO_SCHEMA": "Timeline.1",
        "name": timeline.name,
        "metadata": {},
        "global_start_time": _time(media.start_frame, media),
        "tracks": _composition("Stack.1", "tracks", tracks),
    }
    return json.dumps(document, indent=2) + "\n"


def _track(name: str, kind: str, timeline: Timeline, markers: dict, sound_track: int | None) -> dict:
    clips = [
        _clip(timeline.media, clip, index, markers.get(index, []), sound_track)
        for index, clip in enumerate(timeline.clips)
    ]
    return {**_composition("Track.1", name, clips), "kind": kind}


def _clip(media: Media, clip: Clip, index: int, markers: list[Marker], sound_track: int | None) -> dict:
    start = media.start_frame + clip.source_in
    return {
        "OTIO_SCHEMA": "Clip.2",
        "name": f"{media.stem} ({index + 1})",
        "metadata": {"cutroom": {"sound_track": sound_track}} if sound_track else {},
        "source_range": _range(start, clip.frames, media),
        "effects": [],
        "markers": [_marker(marker, start, media) for marker in markers],
        "enabled": True,
        "media_references": {
            "DEFAULT_MEDIA": {
                "OTIO_SCHEMA": "ExternalReference.1",
                "name": media.name,
                "metadata": {},
                "target_url": media.url,
                "available_range": _range(media.start_frame, media.frames, media),
                "available_image_bounds": None,
            }
        },
        "active_media_reference_key": "DEFAULT_MEDIA",
    }


def _marker(marker: Marker, clip_start: int, media: Media) -> dict:
    return {
        "OTIO_SCHEMA": "Marker.2",
        "name": marker.name,
        "metadata": {},
        "color": MARKER_COLOR,
        "comment": "",
        "marked_range": _range(clip_start + marker.offset, 0, media),
    }


def _composition(schema: str, name: str, children: list[dict]) -> dict:
    return {
        "OTIO_SCHEMA": schema,
        "name": name,
        "metadata": {},
        "source_range": None,
        "effects": [],
        "markers": [],
        "enabled": True,
        "children": children,
    }


def _range(start: int, frames: int, media: Media) -> dict:
    return {"OTIO_SCHEMA": "TimeRange.1", "start_time": _time(start, media), "duration": _time(frames, media)}


def _time(frames: int, media: Media) -> dict:
    return {"OTIO_SCHEMA": "RationalTime.1", "rate": float(media.rate), "value": float(frames)}
