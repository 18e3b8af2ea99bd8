"""What runners write with: a scratch folder beside the item's files, publishing finished files
on the item, the paths of its inputs, and the browser preview of an output."""

import shutil
import time
from contextlib import contextmanager
from pathlib import Path

from webapp import db
from webapp.kinds import source_role
from webapp.models import Item, MediaFile, Task
from webapp.storage import SOUND_PREFIX, item_dir, sound_file


def record_output(task: Task, role: str, written: Path) -> MediaFile:
    """Register a finished output file of `task`, replacing an older one of the same role."""
    item = task.item
    forget_output(item, role, keep=written.name)
    sound_file(item, written.name).unlink(missing_ok=True)  # of a file made before under this name
    # The unit of work inserts before it deletes: the old row must be gone before one of the same name comes.
    db.session.flush()
    output = MediaFile(role=role, name=written.name, size=written.stat().st_size, content_key=task.input_key)
    item.files.append(output)
    task.outputs = [*task.outputs, role]
    return output


def forget_output(item: Item, role: str, keep: str | None = None) -> None:
    """Drop the file of `role` from `item`, and from the disk unless it is named `keep`."""
    for old in [f for f in item.files if f.role == role]:
        item.files.remove(old)
        if old.name != keep:  # e.g. cut.wav made again as cut.m4a from the synced file
            (item_dir(item) / old.name).unlink(missing_ok=True)
            sound_file(item, old.name).unlink(missing_ok=True)


# The share of a sync's or silence removal's progress its output's browser preview takes.
PROXY_SHARE = 30.0


def split_progress(task: Task, progress):
    """Progress callbacks for the job's own work and for the browser preview of its output after
    it. The preview takes a share only when the original needed one: results keep its codecs."""
    from jobs.progress import part

    split = 100.0 - PROXY_SHARE if task.item.file("original_proxy") else 100.0
    return part(progress, 0.0, split), part(progress, split, 100.0)


def with_proxy(task: Task, folder: Path, role: str, name: str, on_progress) -> dict[str, str]:
    """{role: name}, plus its browser preview as "<role>_proxy" when browsers cannot play it."""
    from jobs.proxy import proxy_if_needed

    proxy = proxy_if_needed(folder / name, folder, on_progress=on_progress)
    if proxy is None:
        forget_output(task.item, f"{role}_proxy")  # an earlier run's, of another file
        return {role: name}
    return {role: name, f"{role}_proxy": proxy}


def scratch_prefix(task: Task) -> str:
    return f".work-{task.id}-"


@contextmanager
def scratch(task: Task):
    """A temp folder beside the item's files (same filesystem, so moving out is a rename).

    Named after the task, so the scratch of a task whose worker died can be found and removed.
    """
    folder = item_dir(task.item) / f"{scratch_prefix(task)}{time.time_ns()}"
    folder.mkdir()
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def publish(task: Task, folder: Path, outputs: dict[str, str]) -> dict[str, str]:
    """Move finished outputs (role -> name in the scratch `folder`) into the item's folder and
    register them."""
    final = item_dir(task.item)
    for role, name in outputs.items():
        (folder / name).replace(final / name)
        record_output(task, role, final / name)
    return outputs


def path(item: Item, role: str) -> Path:
    """Where the item's file of `role` is."""
    return item_dir(item) / item.file(role).name


def source_info(item: Item):
    """What the source holds (jobs.mediainfo.MediaInfo) when preparation's probe describes it (the
    original); None for a synced file, which the engine probes itself."""
    from jobs.mediainfo import MediaInfo

    return MediaInfo.from_dict(item.info) if item.info and source_role(item) == "original" else None


def source(item: Item) -> Path:
    """Where the file the jobs after sync work on is (see webapp.kinds.source_role)."""
    return path(item, source_role(item))


def sound(item: Item, role: str | None = None) -> Path:
    """Where the decoded sound (jobs/sound.py) of the item's file of `role` (the source by default)
    is kept, so the jobs that read its sound decode it once."""
    return sound_file(item, item.file(role or source_role(item)).name)


def drop_sound_when_idle(item_id: str) -> None:
    """Remove the item's decoded sounds once none of its jobs waits or runs (as the session has
    it, uncommitted changes included): they serve the jobs of one submission, and an hour's takes
    230 MB. (Leftovers go with the maintenance job.)"""
    active = db.select(Task.id).where(Task.item_id == item_id, Task.status.in_(Task.ACTIVE))
    item = db.session.get(Item, item_id)
    if item is not None and db.session.scalar(active.limit(1)) is None:
        for decoded in item_dir(item).glob(f"{SOUND_PREFIX}*"):
            decoded.unlink(missing_ok=True)
