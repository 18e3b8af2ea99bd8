"""Where an item's files live: MEDIA_ROOT/<user id>/<item id>/, with server-chosen names."""

import json
import shutil
from pathlib import Path

from flask import current_app


def user_dir(user_id: int) -> Path:
    return Path(current_app.config["MEDIA_ROOT"]) / str(user_id)


def item_dir(item) -> Path:
    return user_dir(item.user_id) / item.id


# How the decoded sound of an item's file (jobs/sound.py) and its lock are named: temporary files,
# which the maintenance job removes once the item has been idle a while (webapp/maintenance.py).
SOUND_PREFIX = ".sound-"


def sound_file(item, name: str) -> Path:
    """Where the decoded sound of the item's file `name` is kept for the jobs that read it."""
    return item_dir(item) / f"{SOUND_PREFIX}{name}.f32"


def stored_json(item, role: str):
    """The item's JSON file of `role`, read; None when it has none, or the file is gone from the
    disk (retention, a delete racing this request)."""
    stored = item.file(role)
    path = stored and item_dir(item) / stored.name
    return json.loads(path.read_text()) if path and path.is_file() else None


def remove_item_dir(user_id: int, item_id: str) -> None:
    shutil.rmtree(user_dir(user_id) / item_id, ignore_errors=True)


def remove_user_dir(user_id: int) -> None:
    shutil.rmtree(user_dir(user_id), ignore_errors=True)
