"""Render the edit: the kept ranges the editor decided, as a file (smart render: only the partial
GOPs at the cuts are re-encoded), with the subtitles fitted to it. Asked for in the editor; silence
removal renders its automatic cut the same way."""

import json

from webapp.kinds import SOURCE, Choice, JobKind
from webapp.tasks.outputs import (
    forget_output,
    path,
    publish,
    scratch,
    source,
    source_info,
    split_progress,
    with_proxy,
)


def render_edit(task, edit: dict, progress, details: dict | None = None, slack: float = 0.0) -> dict:
    """Render `edit` ({"version", "keep", "fade", "duration"}) of the task's item as its "cut"
    output, with its cut list, browser preview and, when there is a transcript, subtitles fitted
    to it; return the figures of the cut. `slack`: how far a kept edge may grow into what the
    edit removes to land on a keyframe (jobs.render.render_cut): only where that is known to be
    silence."""
    from jobs.containers import job_extension
    from jobs.cutlist import CutList
    from jobs.render import make_cut
    from jobs.subtitles import FORMATS, fit_to_cut, write_outputs

    item = task.item
    cut_from = source(item)
    video = (item.info or {}).get("video")
    name = "cut" + job_extension(cut_from, video and video["codec"])
    known = source_info(item)
    cutlist = CutList(edit["duration"], [tuple(r) for r in edit["keep"]], details or {}, fade=edit["fade"])
    work, preview = split_progress(task, progress)
    with scratch(task) as folder:
        result = make_cut(cut_from, folder / name, cutlist, on_progress=work, info=known, slack=slack)
        cutlist = CutList.from_dict(result["cutlist"])
        (folder / "cutlist.json").write_text(json.dumps(result["cutlist"], indent=1))
        outputs = {**with_proxy(task, folder, "cut", name, preview), "cutlist": "cutlist.json"}
        if item.file("transcript_json"):
            transcript = json.loads(path(item, "transcript_json").read_text())
            fitted = write_outputs(fit_to_cut(transcript, cutlist), folder, stem="cut")
            outputs.update({f"cut_{fmt}": written for fmt, written in fitted.items()})
        else:  # subtitles fitted to an earlier cut would not fit this one
            for fmt in FORMATS:
                forget_output(item, f"cut_{fmt}")
        publish(task, folder, outputs)
    return {**result, "edit_version": edit["version"]}


def run(task, progress) -> dict:
    return render_edit(task, task.params["edit"], progress)


def figure(result: dict) -> str | None:
    if "kept_duration" not in result:
        return None
    return f"version {result['edit_version']}, {result['kept_duration']:.1f} s"


KIND = JobKind(
    name="render",
    label="Render the edit",
    runner=run,
    timeout=4 * 3600,
    inputs=(SOURCE,),
    uses=("transcript_json",),
    outputs={
        "cut": "The cut",
        "cutlist": "Cut list",
        "cut_proxy": "Browser preview of the cut",
        "cut_srt": "Subtitles for the cut",
        "cut_vtt": "Subtitles for the cut",
        "cut_txt": "Transcript text of the cut",
        "cut_json": "Word timings for the cut",
    },
    writes=2,
    keeps=1,
    edit=True,
    choice=Choice(
        hint="The edit made in the editor, as a file, with subtitles fitted to it.", on_upload=False
    ),
    figure=figure,
    order=45,
)
