"""Routes of the API. Each does what its page does, through the same helpers, and answers JSON."""

import sqlalchemy as sa
from flask import abort, jsonify, request, url_for
from flask_login import current_user
from werkzeug.datastructures import MultiDict
from wtforms import StringField
from wtforms.validators import Optional, Regexp

from jobs.edit import EditError
from webapp import db, edits, tus
from webapp.account.routes import space_taken
from webapp.api import bp
from webapp.api.openapi import ITEM_STATUSES, document
from webapp.api.problems import form_problem, problem
from webapp.editor.forms import PauseForm
from webapp.editor.routes import editable_item, json_body, pause_length, phrases, save_sent_edit
from webapp.kinds import KINDS, file_label
from webapp.kinds.export import EDITORS, FILES, STALE, made
from webapp.models import Item, Task
from webapp.pipeline import live_states
from webapp.quota import space_left
from webapp.videos.forms import JobsForm, UploadForm, kind_form
from webapp.videos.routes import (
    ORIGINAL_GONE,
    Refused,
    delete_item,
    owned_item,
    queue_kind,
    run_again,
    send_item_file,
    store_upload,
    timeline_zip,
)

PER_PAGE, MAX_PER_PAGE = 20, 100
LAST = 10**6  # the highest page asked for: beyond, the database's offset could overflow
NOT_CONFIRMED = "Before you can upload, open the confirmation link we sent to {email}."
EDIT_CHANGED = (
    "The edit was changed since the version in If-Match (it is at version {version} now), so this change "
    "was not saved. Read it again, then send your change with its new version."
)
# Query values must be exactly what the description allows; anything else is refused, not guessed at.
BAD_PAGE = "page must be a whole number from 1."
BAD_PER_PAGE = f"per_page must be a whole number from 1 to {MAX_PER_PAGE}."
BAD_STATUS = "status must be one of: " + ", ".join(ITEM_STATUSES) + "."


class ApiUploadForm(JobsForm):
    """The upload page's form, without its CSRF token (the API has none), its file sent as `file`."""

    class Meta:
        csrf = False

    file = UploadForm.media
    # Items uploaded one by one with the same batch id show as one batch in the library.
    batch = StringField("Batch", validators=[Optional(), Regexp(tus.BATCH_ID, message=tus.BAD_BATCH)])


# Resumable uploads (tus); the upload page has the same at /videos/uploads.
tus.add_routes(bp, "/uploads")


@bp.get("/openapi.json")
def openapi():
    return jsonify(document())


@bp.get("/items")
def list_items():
    """The user's items, newest first, a page at a time; with `status`, only those in that state."""
    page = _whole_number("page", 1, BAD_PAGE)
    per_page = _whole_number("per_page", PER_PAGE, BAD_PER_PAGE, most=MAX_PER_PAGE)
    status = request.args.get("status")
    if status is not None and status not in ITEM_STATUSES:
        abort(problem(400, BAD_STATUS))
    query = sa.select(Item).where(Item.user_id == current_user.id)
    if status is not None:
        query = query.where(_in_state(status))
    query = query.order_by(Item.created_at.desc(), Item.id.desc())
    pages = db.paginate(query, page=page, per_page=per_page, error_out=False, count=True)
    states = live_states([t for item in pages.items for t in item.current_tasks])

    def link(n):
        return url_for("api.list_items", page=n, per_page=per_page, status=status, _external=True)

    return {
        "items": [item_json(item, states) for item in pages.items],
        "page": pages.page,
        "per_page": per_page,
        "total": pages.total,
        "next": link(page + 1) if pages.has_next else None,
        "previous": link(page - 1) if page > 1 else None,
    }


def _whole_number(name: str, default: int, message: str, most: int | None = None) -> int:
    value = request.args.get(name)
    if value is None:
        return default
    if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= (most or LAST):
        abort(problem(400, message))
    return int(value)


def item_status(item: Item) -> str:
    """active: a job is queued or running; failed: the latest run of a job failed or was cancelled;
    done: neither. Matches _in_state, which filters the list by it."""
    if item.busy:
        return "active"
    if any(t.status in (Task.FAILED, Task.CANCELLED) for t in item.current_tasks):
        return "failed"
    return "done"


def _in_state(status: str):
    """The SQL condition for items in `status` (see item_status)."""
    active = sa.exists().where(Task.item_id == Item.id, Task.status.in_(Task.ACTIVE))
    later = sa.orm.aliased(Task)
    failed = sa.exists().where(
        Task.item_id == Item.id,
        Task.status.in_((Task.FAILED, Task.CANCELLED)),
        ~sa.exists().where(later.item_id == Task.item_id, later.kind == Task.kind, later.id > Task.id),
    )
    return {"active": active, "failed": ~active & failed, "done": ~active & ~failed}[status]


def item_json(item: Item, states=None) -> dict:
    """An item as the API shows it: its jobs with their live state, its files with their URLs."""
    states = states if states is not None else live_states(item.current_tasks)
    return {
        "id": item.id,
        "title": item.title,
        "kind": item.kind,
        "duration": item.duration,
        "size": item.size,
        "created_at": item.created_at.isoformat() + "Z",
        "status": item_status(item),
        "batch": item.batch,
        "url": url_for("api.show_item", item_id=item.id, _external=True),
        "page_url": url_for("videos.show", item_id=item.id, _external=True),
        "tasks": [_task_json(task, states.get(task.id)) for task in item.current_tasks],
        "files": [
            {
                "role": f.role,
                "label": file_label(f.role),
                "name": f.name,
                "size": f.size,
                "url": url_for("api.item_file", item_id=item.id, name=f.name, _external=True),
            }
            for f in item.files
        ],
    }


def _task_json(task: Task, state) -> dict:
    kind = KINDS.get(task.kind)
    done = task.status == Task.DONE
    return {
        "id": task.id,
        "kind": task.kind,
        "label": kind.label if kind else task.kind,
        "status": state.status if state else task.status,
        "percent": 100.0 if done else state and state.percent,
        "stage": state and state.stage,
        "queue_position": state and state.position,
        "waiting_for": state and state.waiting_for,
        "seconds_left": state and state.seconds_left,
        "error": task.error,
        "figure": kind.figure(task.result or {}) if kind and done else None,
        "result": task.result if done else None,
    }


@bp.post("/items", endpoint="create_item")
def create_item():
    """Upload a recording (and an External audio) with the jobs to run on it: the upload page's path."""
    if not current_user.confirmed:
        abort(problem(403, NOT_CONFIRMED.format(email=current_user.email)))
    form = ApiUploadForm()
    if not form.validate():
        return form_problem(400, form)
    try:
        item = store_upload(form, form.file, form.batch.data or None)
    except Refused as refused:
        return form_problem(refused.status, form)
    return item_json(item), 201, {"Location": url_for("api.show_item", item_id=item.id, _external=True)}


@bp.get("/items/<item_id>")
def show_item(item_id):
    return item_json(owned_item(item_id))


@bp.delete("/items/<item_id>")
def delete(item_id):
    delete_item(owned_item(item_id))
    return "", 204


# "Run again" takes uploads: webapp/uploads.py knows its endpoint by this name.
@bp.post("/items/<item_id>/again", endpoint="run_again")
def again(item_id):
    """Run jobs again with other settings (and a new External audio): the item page's "Run again"."""
    item = owned_item(item_id)
    if item.file("original") is None:
        abort(problem(409, ORIGINAL_GONE))
    form = JobsForm(meta={"csrf": False})
    if not form.validate():
        return form_problem(400, form)
    refused = run_again(item, form)
    if refused is not None:
        return form_problem(refused, form)
    return item_json(item), 202


@bp.get("/items/<item_id>/files/<name>")
def item_file(item_id, name):
    return send_item_file(owned_item(item_id), name)


@bp.get("/items/<item_id>/edit")
def get_edit(item_id):
    item = editable_item(item_id)
    pauses = PauseForm(request.args, meta={"csrf": False})
    if not pauses.validate():
        return form_problem(400, pauses)
    data = edits.editor_data(item, phrases(), pause_length())
    db.session.commit()  # the edit, made the first time it is read
    return data, {"ETag": f'"{data["version"]}"', "Cache-Control": "no-store"}


@bp.put("/items/<item_id>/edit")
def put_edit(item_id):
    """Replace the kept ranges if If-Match names the current version (412 if not, 428 without it)."""
    item = editable_item(item_id)
    try:
        data = save_sent_edit(item)
    except EditError as error:
        return problem(400, str(error))
    except edits.Conflict:
        current = edits.current(item).version
        return problem(412, EDIT_CHANGED.format(version=current), headers={"ETag": f'"{current}"'})
    return data, {"ETag": f'"{data["version"]}"'}


@bp.post("/items/<item_id>/render")
def render(item_id):
    """Render the current edit, as the editor's Render button does."""
    item = editable_item(item_id)
    if refused := queue_kind(item, KINDS["render"], {}):
        return problem(409, refused)
    return item_json(item), 202


@bp.get("/items/<item_id>/exports")
def list_exports(item_id):
    """The timelines made for editing programs, each with the URL of its zip."""
    item = owned_item(item_id)
    timelines = [m for fmt in FILES if (m := made(item, fmt)) is not None]
    return {
        "exports": [
            {
                "format": m.format,
                "label": m.label,
                "stale": m.stale,
                "size": m.size,
                "url": url_for("api.export_zip", item_id=item.id, format=m.format, _external=True),
            }
            for m in timelines
        ]
    }


@bp.post("/items/<item_id>/exports")
def export(item_id):
    """Make a timeline for an editing program ({"editor": "resolve"}), as the item page's card does."""
    item = owned_item(item_id)
    kind = KINDS["export"]
    body = json_body()
    if not isinstance(body, dict) or not isinstance(body.get("editor"), str):
        return problem(400, f'Send the editing program as JSON: {{"editor": one of {", ".join(EDITORS)}}}.')
    form = kind_form(kind, formdata=MultiDict(body), meta={"csrf": False})
    if not form.validate():
        return form_problem(400, form)
    if refused := queue_kind(item, kind, kind.choice.params(form)):
        return problem(409, refused)
    return item_json(item), 202


@bp.get("/items/<item_id>/exports/<format>")
def export_zip(item_id, format):  # noqa: A002 - the name the document gives it
    """A timeline with the recording it names, as the item page's download; 409 when it is out of date."""
    item = owned_item(item_id)
    timeline = made(item, format)
    if timeline is None:
        abort(404)
    if timeline.stale:
        return problem(409, STALE)
    return timeline_zip(item, timeline)


@bp.get("/account")
def account():
    """Space used against the quota, and what takes it."""
    taken = space_taken(current_user.id)
    return {
        "email": current_user.email,
        "confirmed": current_user.confirmed,
        "used_bytes": current_user.used_bytes,
        "quota_bytes": current_user.quota,
        "space_left_bytes": space_left(current_user),
        "split": taken["split"],
        "biggest": [
            {"id": item.id, "title": item.title, "size": int(size or 0)} for item, size in taken["biggest"]
        ],
    }
