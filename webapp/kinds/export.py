"""Export for editing: the cut as a timeline for Premiere Pro, Final Cut Pro, DaVinci Resolve,
Shotcut, Kdenlive, any EDL reader or OpenTimelineIO, made on request from the item page. The
timeline refers to the recording beside it by name, so the two go on together."""

import json

from wtforms import SelectField
from wtforms.fields.choices import SelectChoice

from webapp.kinds import SOURCE, Choice, JobKind
from webapp.tasks.outputs import path, publish, scratch, source

# What the person picks (by editor), the engine's format (jobs/timeline) and the file it makes.
EDITORS = {
    "premiere": ("Premiere Pro", "xmeml", "timeline.xml"),
    "finalcut": ("Final Cut Pro", "fcpxml", "timeline.fcpxml"),
    "resolve": ("DaVinci Resolve", "fcpxml", "timeline.fcpxml"),
    "resolve17": ("DaVinci Resolve 17 or older", "fcpxml-1.9", "timeline-1.9.fcpxml"),
    "shotcut": ("Shotcut", "mlt", "timeline.mlt"),
    "kdenlive": ("Kdenlive", "kdenlive", "timeline.kdenlive"),
    "edl": ("EDL (CMX 3600), for any editor", "edl", "timeline.edl"),
    "otio": ("OpenTimelineIO", "otio", "timeline.otio"),
}
# One file per format, whichever editor asked for it.
FILES = {fmt: (name, label) for label, fmt, name in reversed(EDITORS.values())}


def run(task, progress) -> dict:
    from jobs.cutlist import CutList
    from jobs.timeline import export_timeline

    item = task.item
    fmt = task.params["format"]
    name = FILES[fmt][0]
    progress(10, "Writing the timeline")
    cutlist = CutList.from_dict(json.loads(path(item, "cutlist").read_text()))
    transcript = item.file("transcript_json") and json.loads(path(item, "transcript_json").read_text())
    media = source(item)
    with scratch(task) as folder:
        result = export_timeline(
            media, cutlist, folder / name, format=fmt, location=media.name, transcript=transcript or None
        )
        written = {f"timeline_{fmt}": name}
        if result.get("subtitles"):
            written["timeline_srt"] = result["subtitles"]
        publish(task, folder, written)
    return result


def card_data(item) -> dict | None:
    """The timelines made so far; shown once there is a cut to export."""
    if item.file("cutlist") is None:
        return None
    return {"files": [f for f in item.files if f.role.startswith("timeline_")]}


KIND = JobKind(
    name="export",
    label="Export for editing",
    runner=run,
    timeout=10 * 60,
    inputs=(SOURCE, "cutlist"),
    outputs={
        **{f"timeline_{fmt}": f"Timeline for {label}" for fmt, (_, label) in FILES.items()},
        "timeline_srt": "Subtitles for the timeline",
    },
    choice=Choice(
        hint="A timeline of the cut that your editing program opens, referring to the recording beside it.",
        fields={
            "editor": SelectField(
                "Editing program",
                choices=[SelectChoice(value, label) for value, (label, _, _) in EDITORS.items()],
                default="premiere",
            )
        },
        params=lambda form: {"format": EDITORS[form.editor.data][1]},
        on_upload=False,
    ),
    figure=lambda result: result.get("timeline"),
    card_place=40,
    card="kinds/export_card.html",
    card_data=card_data,
    order=50,
)
