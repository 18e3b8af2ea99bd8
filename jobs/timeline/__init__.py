"""Timelines for editors: the cut as an FCPXML, xmeml, EDL, OTIO, MLT or Kdenlive file that refers to
the source, so the person goes on editing in Final Cut, Premiere, Resolve, Shotcut or Kdenlive.

    export_timeline(media, cutlist, out)  # format from out's extension, or format="edl" etc.
"""

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from jobs.containers import UnfitOutput
from jobs.cutlist import CutList
from jobs.errors import MediaError
from jobs.files import write_text_atomically
from jobs.probe import MediaInfo, probe
from jobs.subtitles import Cue, build_cues, fit_to_cut, to_srt
from jobs.timeline.edl import to_edl
from jobs.timeline.fcpxml import to_fcpxml
from jobs.timeline.kdenlive import to_kdenlive
from jobs.timeline.mlt import to_mlt
from jobs.timeline.model import SubtitleFile, Timeline, build_timeline
from jobs.timeline.otio import to_otio
from jobs.timeline.source import read_facts
from jobs.timeline.xmeml import to_xmeml

UNKNOWN_FORMAT = "Cannot tell the timeline format from '{name}': name it {extensions}, or choose a format."
NOT_A_CUTLIST = "{name} is not a cut list: give the JSON that `python -m jobs silence --json` writes."
NOTHING_KEPT = "The cut keeps nothing of the recording, so there is no timeline to export."


@dataclass(frozen=True)
class Format:
    name: str
    extension: str
    editors: str  # who opens it, as a person choosing a format reads it
    write: Callable[[Timeline], str]
    # The SRT beside a timeline `out`: out's stem, or for Kdenlive its whole name, which is where
    # Kdenlive keeps a project's subtitle file (cut.kdenlive.srt beside cut.kdenlive).
    subtitles_name: str = "{stem}.srt"

    def subtitles_beside(self, out: Path) -> Path:
        return out.with_name(self.subtitles_name.format(stem=out.stem, name=out.name))


FORMATS = {
    f.name: f
    for f in (
        Format("fcpxml", ".fcpxml", "Final Cut Pro, DaVinci Resolve (FCPXML 1.10)", to_fcpxml),
        Format(
            "fcpxml-1.9",
            ".fcpxml",
            "DaVinci Resolve 17 and older (FCPXML 1.9)",
            partial(to_fcpxml, version="1.9"),
        ),
        Format("xmeml", ".xml", "Premiere Pro, DaVinci Resolve (Final Cut Pro 7 XML)", to_xmeml),
        Format("edl", ".edl", "any editor (CMX 3600 EDL)", to_edl),
        Format("otio", ".otio", "OpenTimelineIO", to_otio),
        Format("mlt", ".mlt", "Shotcut (MLT XML)", to_mlt),
        Format("kdenlive", ".kdenlive", "Kdenlive", to_kdenlive, subtitles_name="{name}.srt"),
    )
}
# The format an output's extension stands for (the first format with that extension).
BY_EXTENSION = {f.extension: f for f in reversed(FORMATS.values())}


def read_cutlist(path: str | Path) -> CutList:
    """The cut list in a JSON file: what `python -m jobs silence --json` writes, or a bare cut list."""
    if not Path(path).is_file():
        raise MediaError(f"{path}: no such file.")
    try:
        data = json.loads(Path(path).read_text())
        return CutList.from_dict(data.get("cutlist", data))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise MediaError(NOT_A_CUTLIST.format(name=Path(path).name)) from error


def format_for(out: str | Path, name: str | None = None) -> Format:
    """The format called `name`, or the one `out`'s extension stands for; UnfitOutput if neither."""
    if name:
        return FORMATS[name]
    found = BY_EXTENSION.get(Path(out).suffix.lower())
    if found is None:
        extensions = ", ".join(sorted(BY_EXTENSION))
        raise UnfitOutput(UNKNOWN_FORMAT.format(name=Path(out).name, extensions=extensions))
    return found


def export_timeline(
    media: str | Path,
    cutlist: CutList,
    out: str | Path,
    *,
    format: str | None = None,
    absolute: bool = False,
    location: str | None = None,
    info: MediaInfo | None = None,
    transcript: dict | None = None,
) -> dict:
    """Write the timeline of `cutlist` over `media` to `out`; given a transcript, also its subtitles
    fitted to the cut as an SRT beside `out` (and in the timeline as FCPXML captions, Kdenlive's
    subtitle track on that SRT and a Shotcut subtitle track holding it). Media paths are relative
    to `out`'s folder unless `absolute`, or `location` as given (a timeline written in one folder
    that goes to another, as the web's does, beside its media). Returns what was written;
    MediaError for a source no timeline can hold exactly (a variable frame rate)."""
    media, out = Path(media), Path(out)
    chosen = format_for(out, format)
    timeline = timeline_for(media, cutlist, out, absolute=absolute, location=location, info=info)
    cues = fitted_cues(transcript, timeline) if transcript is not None else []
    srt, srt_text = chosen.subtitles_beside(out), to_srt(cues)
    if cues:
        subtitles = SubtitleFile(srt.name, srt_text)
        timeline = timeline.with_captions(cues, transcript.get("language"), subtitles)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomically(out, chosen.write(timeline))
    result = {
        "format": chosen.name,
        "timeline": out.name,
        "clips": len(timeline.clips),
        "markers": len(timeline.markers),
        "frame_rate": f"{timeline.rate.numerator}/{timeline.rate.denominator}",
        "duration": round(float(timeline.seconds(timeline.frames)), 6),
    }
    if transcript is not None:
        write_text_atomically(srt, srt_text)
        result["subtitles"] = srt.name
    return result


def timeline_for(
    media: Path,
    cutlist: CutList,
    out: Path,
    *,
    absolute: bool = False,
    location: str | None = None,
    info: MediaInfo | None = None,
) -> Timeline:
    info = info or probe(media)
    facts = read_facts(media, info)
    if location is None:
        location = (
            str(media.resolve()) if absolute else os.path.relpath(media.resolve(), out.resolve().parent)
        )
    timeline = build_timeline(cutlist, info, facts, location, name=media.stem)
    if not timeline.clips:
        raise MediaError(NOTHING_KEPT)
    return timeline


def fitted_cues(transcript: dict, timeline: Timeline) -> list[Cue]:
    """The transcript's subtitle cues moved onto the cut as the timeline makes it (frame-snapped)."""
    return build_cues(fit_to_cut(transcript, timeline.as_cutlist()))
