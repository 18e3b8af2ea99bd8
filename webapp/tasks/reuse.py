"""Result reuse: a task whose kind, params and input contents match an earlier done task of the
same user takes that task's outputs instead of running."""

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

import sqlalchemy as sa
from flask import current_app

from webapp import db
from webapp.kinds import KINDS, input_roles
from webapp.models import Item, Task
from webapp.storage import item_dir
from webapp.tasks.outputs import publish, scratch

log = logging.getLogger(__name__)

# Raise when a change to jobs/ makes new results differ from stored ones, so those are not reused.
ENGINE_VERSION = 2


def input_key(task: Task) -> str | None:
    """What the outputs of `task` depend on, hashed: its kind, parameters, the content of its inputs
    and the settings its kind depends on (the model). None when an input's content is not known."""
    kind = KINDS[task.kind]
    inputs = []
    for role in input_roles(kind, task.item) + [role for role in kind.uses if task.item.file(role)]:
        stored = task.item.file(role)
        if stored is None or stored.content_key is None:
            return None
        inputs.append([role, stored.content_key])
    recipe = {"kind": task.kind, "params": task.params, "inputs": inputs, "engine": ENGINE_VERSION}
    recipe.update({key: current_app.config[setting] for key, setting in kind.config.items()})
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()


def earlier_result(task: Task) -> Task | None:
    """The latest done task of the same user with the same input key whose outputs are all still
    stored (retention, a delete or a later run may have removed them)."""
    if task.input_key is None:
        return None
    candidates = db.session.scalars(
        sa.select(Task)
        .join(Item)
        .where(Item.user_id == task.item.user_id, Task.input_key == task.input_key)
        .where(Task.status == Task.DONE, Task.id != task.id)
        .order_by(Task.id.desc())
    )
    for candidate in candidates:
        folder = item_dir(candidate.item)
        files = [candidate.item.file(role) for role in candidate.outputs]
        if files and all(
            f is not None and f.content_key == task.input_key and (folder / f.name).is_file() for f in files
        ):
            return candidate
    return None


def reuse(task: Task, source: Task) -> dict:
    """Take the outputs and figures of `source`, an identical earlier task, instead of running.

    Files are hard-linked into this item's folder (copied where links do not work): no disk is
    spent, yet each item counts them, as each can be deleted without the other.
    """
    item = task.item
    if source.item_id == item.id:
        task.outputs = list(source.outputs)  # run again with the same settings: already in place
    else:
        with scratch(task) as folder:
            names = {}
            for role in source.outputs:
                stored = source.item.file(role)
                link_or_copy(item_dir(source.item) / stored.name, folder / stored.name)
                names[role] = stored.name
            publish(task, folder, names)
        if task.kind == "prepare":  # preparation also describes the file on the item
            item.info, item.duration, item.kind = source.item.info, source.item.duration, source.item.kind
    task.reused_from = source.id
    log.info("task %s reused the result of task %s", task.id, source.id)
    return source.result


def link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
