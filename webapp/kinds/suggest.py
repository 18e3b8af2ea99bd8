"""Find edit suggestions: the pauses and the voiced stretches no word covers (a filler Whisper left
unwritten), read from the sound once the transcript is there. Nobody chooses it: it runs with every
transcription, and the editor turns it into suggestions with the words (jobs/suggest.py)."""

import json

from webapp.kinds import SOURCE, JobKind
from webapp.tasks.outputs import path, publish, scratch, source, source_info


def run(task, progress) -> dict:
    from jobs.suggest_audio import analyse

    item = task.item
    transcript = json.loads(path(item, "transcript_json").read_text())
    found = analyse(source(item), transcript, info=source_info(item), on_progress=progress)
    with scratch(task) as folder:
        (folder / "suggestions.json").write_text(json.dumps(found))
        publish(task, folder, {"suggestions": "suggestions.json"})
    return {"pauses": len(found["pauses"]), "sounds": len(found["sounds"])}


KIND = JobKind(
    name="suggest",
    label="Find edit suggestions",
    runner=run,
    # Right after the transcript it reads, by the worker that wrote it; a fast pass over the sound.
    queue="transcribe",
    timeout=30 * 60,
    inputs=(SOURCE, "transcript_json"),
    outputs={"suggestions": "Pauses and unwritten sounds, for the editor"},
    after=("sync", "transcribe"),
    needs=("transcribe",),
    figure=lambda result: f"{result['pauses']} pauses" if "pauses" in result else None,
    order=35,
)
