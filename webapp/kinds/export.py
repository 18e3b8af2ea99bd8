"""Export for editing: the cut as a timeline for Premiere Pro, Final Cut Pro, DaVinci Resolve,
Shotcut, Kdenlive, any EDL reader or OpenTimelineIO, made on request from the item page. The
timeline refers to the recording beside it by name, so the two go on together."""

import json
from dataclasses import dataclass
from pathlib import Path

from wtforms import SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired

from webapp import edits
from webapp.kinds import SOURCE, Choice, JobKind
from webapp.storage import item_dir
from webapp.tasks.outputs import path, publish, scratch, source

# What the person picks (by editor) and the engine's format (jobs/timeline) it gets.
EDITORS = {
    "premiere": ("Premiere Pro", "xmeml"),
    "finalcut": ("Final Cut Pro", "fcpxml"),
    "resolve": ("DaVinci Resolve", "fcpxml"),
    "resolve17": ("DaVinci Resolve 17 or older", "fcpxml-1.9"),
    "shotcut": ("Shotcut", "mlt"),
    "kdenlive": ("Kdenlive", "kdenlive"),
    "edl": ("EDL (CMX 3600), for any editor", "edl"),
    "otio": ("OpenTimelineIO", "otio"),
}
# Each format's file, and who opens it.
FILES = {
    "xmeml": ("timeline.xml", "Premiere Pro"),
    "fcpxml": ("timeline.fcpxml", "Final Cut Pro and DaVinci Resolve"),
    "fcpxml-1.9": ("timeline-1.9.fcpxml", "DaVinci Resolve 17 or older"),
    "mlt": ("timeline.mlt", "Shotcut"),
    "kdenlive": ("timeline.kdenlive", "Kdenlive"),
    "edl": ("timeline.edl", "EDL (CMX 3600)"),
    "otio": ("timeline.otio", "OpenTimelineIO"),
}


def run(task, progress) -> dict:
    from jobs.cutlist import CutList
    from jobs.timeline import export_timeline

    item = task.item
    fmt = task.params["format"]
    name = FILES[fmt][0]
    progress(10, "Writing the timeline")
    edit = task.params["edit"]
    cutlist = CutList(edit["duration"], [tuple(r) for r in edit["keep"]], fade=edit["fade"])
    transcript = item.file("transcript_json") and json.loads(path(item, "transcript_json").read_text())
    media = source(item)
    with scratch(task) as folder:
        result = export_timeline(
            media, cutlist, folder / name, format=fmt, location=media.name, transcript=transcript or None
        )
        written = {f"timeline_{fmt}": name}
        if result.get("subtitles"):
            written[f"timeline_{fmt}_srt"] = result["subtitles"]
        publish(task, folder, written)
    return {**result, "media": media.name}


STALE = (
    "The recording, its edit or its transcript changed since this timeline was made, so it no "
    "longer fits them. Export it again."
)


@dataclass
class Made:
    """A timeline made for one format, and what its zip holds."""

    format: str
    label: str  # the editor it is for
    entries: list[tuple[str, Path]]  # (name in the zip's folder, stored file)
    stale: bool

    @property
    def size(self) -> int:
        return sum(stored.stat().st_size for _, stored in self.entries)


def made(item, fmt: str) -> Made | None:
    """The latest timeline made for `fmt` with the files its zip holds: the timeline, the recording it
    names (by that name, beside it) and its subtitles. None when none is there (or a file is gone)."""
    from webapp.tasks.reuse import input_key

    tasks = [t for t in item.tasks if t.kind == "export" and t.status == "done" and t.params["format"] == fmt]
    if not tasks or fmt not in FILES:
        return None
    task, folder = tasks[-1], item_dir(item)
    names = [task.result["timeline"], task.result["media"], task.result.get("subtitles")]
    entries = [(name, folder / name) for name in names if name]
    if not all(stored.is_file() for _, stored in entries):
        return None
    # Its inputs' contents now, against those it was made from, and the edit it was made of.
    stale = task.input_key is not None and input_key(task) != task.input_key
    stale = stale or task.params.get("edit", {}).get("version") != edits.current(item).version
    return Made(fmt, FILES[fmt][1], entries, stale)


def card_data(item) -> dict | None:
    """The timelines made so far; shown once the recording is prepared (its edit may cut nothing)."""
    if not edits.editable(item):
        return None
    return {"made": [m for fmt in FILES if (m := made(item, fmt)) is not None]}


KIND = JobKind(
    name="export",
    label="Export for editing",
    runner=run,
    timeout=10 * 60,
    inputs=(SOURCE,),
    edit=True,
    uses=("transcript_json",),  # its subtitles: a timeline made before the transcript has none
    outputs={
        **{f"timeline_{fmt}": f"Timeline for {label}" for fmt, (_, label) in FILES.items()},
        **{f"timeline_{fmt}_srt": f"Subtitles for the {label} timeline" for fmt, (_, label) in FILES.items()},
    },
    choice=Choice(
        hint="A timeline of the cut that your editing program opens, referring to the recording beside it.",
        fields={
            "editor": SelectField(
                "Editing program",
                choices=[SelectChoice(value, label) for value, (label, _) in EDITORS.items()],
                validators=[InputRequired("Choose the editing program.")],
            )
        },
        params=lambda form: {"format": EDITORS[form.editor.data][1]},
        on_upload=False,
    ),
    figure=lambda result: f"for {FILES[result['format']][1]}" if result.get("format") in FILES else None,
    card_place=40,
    card="kinds/export_card.html",
    card_data=card_data,
    order=50,
)
