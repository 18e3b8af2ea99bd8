"""Free space on the media volume: uploads and jobs are refused before they would fill the disk."""

import shutil

from flask import current_app

TASK_DISK_FULL = (
    "The server's disk is nearly full, so this job was not started and nothing was changed. "
    "Try again later with “Run again”, or tell the operator."
)
# What every job may write besides what its kind says it writes (webapp/kinds/): small files.
SMALL_OUTPUTS = 64 * 1024 * 1024


def disk_room() -> int:
    """Bytes that may still be written to the media volume while keeping MIN_FREE_DISK free."""
    free = shutil.disk_usage(current_app.config["MEDIA_ROOT"]).free
    return free - current_app.config["MIN_FREE_DISK"]


def check_room_for_task(task) -> None:
    """Fail `task` before it starts when its outputs might not fit: a disk that fills up midway
    fails this job anyway, and every upload and job of everyone else with it."""
    from jobs.errors import MediaError
    from webapp.kinds import KINDS

    source = task.item.working_file
    needed = SMALL_OUTPUTS + KINDS[task.kind].writes * (source.size if source else 0)
    needed += preview_bytes(task) + sound_bytes(task)
    if disk_room() < needed:
        raise MediaError(TASK_DISK_FULL)


def preview_bytes(task) -> int:
    """At most how many bytes the browser preview (jobs.proxy) that preparing `task`'s item
    makes takes: none for other tasks, or when browsers play the upload as it is."""
    from jobs.probe import MediaInfo
    from jobs.proxy import proxy_size_bound

    info = task.item.info
    return proxy_size_bound(MediaInfo.from_dict(info)) if task.kind == "prepare" and info else 0


def sound_bytes(task) -> int:
    """How many bytes the decoded sound (jobs.sound) of `task`'s source takes when this job is the
    first to decode it (4 bytes a sample: 230 MB an hour); none once a job before made it."""
    from jobs.sound import SOUND_RATE
    from webapp.tasks.outputs import sound

    duration = (task.item.info or {}).get("duration") or 0
    return 0 if sound(task.item).exists() else int(duration * SOUND_RATE * 4)
