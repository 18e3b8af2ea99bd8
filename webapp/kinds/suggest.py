"""Find edit suggestions: the pauses, the hesitations Whisper leaves out of the transcript (heard
by a second listening, prompted to write them) and the voiced stretches no word covers. Nobody
chooses it: it runs with every transcription, and the editor turns it into suggestions with the
words and the person's filler phrases (jobs/suggest.py)."""

import json

from flask import current_app

from webapp.helpers import plural
from webapp.kinds import SOURCE, JobKind
from webapp.tasks.outputs import path, publish, scratch, sound, source, source_info


def run(task, progress) -> dict:
    from jobs.suggest_audio import analyse

    item = task.item
    transcript = json.loads(path(item, "transcript_json").read_text())
    model = current_app.config["TRANSCRIBE_MODEL"] or None
    found = analyse(
        source(item), transcript, info=source_info(item), on_progress=progress, model=model, sound=sound(item)
    )
    with scratch(task) as folder:
        (folder / "suggestions.json").write_text(json.dumps(found))
        publish(task, folder, {"suggestions": "suggestions.json"})
    return {key: len(found[key]) for key in ("pauses", "hesitations", "sounds")}


def figure(result: dict) -> str | None:
    if "pauses" not in result:
        return None
    unwritten = result.get("hesitations", 0) + result["sounds"]
    pauses = plural(result["pauses"], "pause")
    return f"{pauses}, {plural(unwritten, 'sound')} no word covers" if unwritten else pauses


KIND = JobKind(
    name="suggest",
    label="Find edit suggestions",
    runner=run,
    # Right after the transcript it reads, by a worker that has the model loaded (it listens again).
    queue="transcribe",
    timeout=6 * 3600,
    inputs=(SOURCE, "transcript_json"),
    outputs={"suggestions": "Pauses and unwritten sounds, for the editor"},
    after=("sync", "transcribe"),
    needs=("transcribe",),
    config={"model": "TRANSCRIBE_MODEL"},
    figure=figure,
    order=35,
)
