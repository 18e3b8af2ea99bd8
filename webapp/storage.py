"""Where an item's files live: MEDIA_ROOT/<user id>/<item id>/, with server-chosen names."""

import json
import shutil
from pathlib import Path

from flask import current_app


def user_dir(user_id: int) -> Path:
    return Path(current_app.config["MEDIA_ROOT"]) / str(user_id)


def item_dir(item) -> Path:
    return user_dir(item.user_id) / item.id


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
