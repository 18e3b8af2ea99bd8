"""Preparation: every upload is probed, and gets a poster, a waveform and, when browsers cannot
play it, a browser preview. It runs by itself with each upload; nobody chooses it."""

from webapp.kinds import JobKind
from webapp.tasks.outputs import path, publish, scratch, sound


def run(task, progress) -> dict:
    from jobs.mediainfo import MediaInfo
    from jobs.prepare import prepare

    item = task.item
    # The upload was probed as it arrived (webapp/videos/routes.py): not again.
    known = MediaInfo.from_dict(item.info) if item.info else None
    with scratch(task) as folder:
        result = prepare(
            path(item, "original"), folder, on_progress=progress, info=known, sound=sound(item, "original")
        )
        publish(task, folder, {role: name for role, name in result["outputs"].items() if name})
    info = result["info"]
    item.info, item.duration = info, info["duration"]
    item.kind = "video" if info.get("video") else "audio"
    return {"duration": info["duration"], "outputs": result["outputs"]}


KIND = JobKind(
    name="prepare",
    label="Preparation",
    runner=run,
    timeout=30 * 60,
    inputs=("original",),
    outputs={
        "poster": "Poster image",
        "waveform": "Waveform image",
        "original_proxy": "Browser preview of the original",
    },
    order=0,
)
