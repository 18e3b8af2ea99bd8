"""Fit subtitles to the cut: map the transcript's timings through the cut list once both exist.
Nobody chooses it: it runs when silence removal and transcription both run."""

import json

from webapp.kinds import JobKind
from webapp.tasks.outputs import path, publish, scratch


def run(task, progress) -> dict:
    from jobs.cutlist import CutList
    from jobs.subtitles import fit_to_cut, write_outputs

    item = task.item
    progress(10, "Fitting subtitles to the cut")
    transcript = json.loads(path(item, "transcript_json").read_text())
    cutlist = CutList.from_dict(json.loads(path(item, "cutlist").read_text()))
    fitted = fit_to_cut(transcript, cutlist)
    with scratch(task) as folder:
        outputs = write_outputs(fitted, folder, stem="cut")
        publish(task, folder, {f"cut_{fmt}": name for fmt, name in outputs.items()})
    words = sum(len(s.get("words", [])) for s in fitted["segments"])
    return {"segments": len(fitted["segments"]), "words": words, "outputs": outputs}


KIND = JobKind(
    name="fit_subtitles",
    label="Fit subtitles to the cut",
    runner=run,
    timeout=10 * 60,
    inputs=("transcript_json", "cutlist"),
    outputs={
        "cut_srt": "Subtitles for the cut",
        "cut_vtt": "Subtitles for the cut",
        "cut_txt": "Transcript text of the cut",
        "cut_json": "Word timings for the cut",
    },
    after=("silence", "transcribe"),
    needs=("silence", "transcribe"),
    order=40,
)
