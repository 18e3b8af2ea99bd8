"""Routes of the videos area."""

import mimetypes
import re

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user, login_required
from werkzeug.datastructures import FileStorage

from webapp import db
from webapp.helpers import filesize
from webapp.models import Item, MediaFile, used_bytes
from webapp.pipeline import cancel_jobs, live_states, plan, submit
from webapp.storage import item_dir, remove_item_dir
from webapp.uploads import UploadTooLarge
from webapp.videos import bp
from webapp.videos.forms import DeleteForm, UploadForm


def owned_item(item_id: str) -> Item:
    """The current user's item, or 404: another user's item must look like no item at all."""
    item = db.session.get(Item, item_id)
    if item is None or item.user_id != current_user.id:
        abort(404)
    return item


@bp.get("/")
def home():
    return redirect(url_for("videos.index" if current_user.is_authenticated else "auth.login"))


@bp.get("/videos")
@login_required
def index():
    items = db.session.scalars(
        sa.select(Item).where(Item.user_id == current_user.id).order_by(Item.created_at.desc())
    ).all()
    states = live_states([t for item in items for t in item.tasks])
    return render_template("videos/index.html", items=items, states=states, used=used_bytes(current_user.id))


@bp.get("/videos/<item_id>/progress")
@login_required
def progress(item_id):
    item = owned_item(item_id)
    states = live_states(item.tasks)
    if request.args.get("part") == "tasks":
        html = render_template("videos/_tasks.html", item=item, states=states, poll_tasks=True)
        # Once the work is over, reload the item page so its new outputs show.
        return html, {"HX-Refresh": "true"} if not item.busy else {}
    return render_template("videos/_item_row.html", item=item, states=states)


@bp.get("/videos/<item_id>")
@login_required
def show(item_id):
    item = owned_item(item_id)
    return render_template(
        "videos/show.html", item=item, states=live_states(item.tasks), delete_form=DeleteForm()
    )


@bp.route("/videos/new", methods=["GET", "POST"])
@login_required
def new():
    form = UploadForm()
    if not current_user.confirmed:
        return render_template("videos/new.html", form=form), 403 if request.method == "POST" else 200
    if not form.validate_on_submit():
        status = 400 if request.method == "POST" else 200
        return render_template("videos/new.html", form=form), status

    from jobs.errors import MediaError
    from jobs.probe import probe  # reads headers only; needed to refuse a bad file in this response

    has_external = isinstance(form.external.data, FileStorage) and bool(form.external.data.filename)
    if form.sync.data and not has_external:
        form.external.errors.append("To sync, add the External audio file as well.")
        return render_template("videos/new.html", form=form), 400

    parts = {"original": form.media.data}
    if has_external:
        parts["external"] = form.external.data
    paths = {role: upload.stream.keep(role + _extension(upload.filename)) for role, upload in parts.items()}
    labels = {"original": "Media file", "external": "External audio"}
    infos = {}
    for role, path in paths.items():
        field = form.media if role == "original" else form.external
        if path.stat().st_size == 0:
            field.errors.append(f"{labels[role]}: the file is empty (0 bytes). Choose the recording itself.")
            _discard(paths)
            return render_template("videos/new.html", form=form), 400
        try:
            infos[role] = probe(path)
        except MediaError as error:
            field.errors.append(f"{labels[role]}: {error}")
            _discard(paths)
            return render_template("videos/new.html", form=form), 415
        if role == "external" and infos[role].audio is None:
            field.errors.append(f"{labels[role]} has no sound in it. Choose an audio recording.")
            _discard(paths)
            return render_template("videos/new.html", form=form), 415

    total = sum(path.stat().st_size for path in paths.values())
    left = current_user.quota - used_bytes(current_user.id)
    if total > left:
        _discard(paths)
        raise UploadTooLarge(
            f"This upload does not fit in your space: you have {filesize(max(left, 0))} left of "
            f"{filesize(current_user.quota)}. Delete items you no longer need, then try again."
        )

    info = infos["original"]
    item = Item(
        id=request.upload_item_id,
        user_id=current_user.id,
        title=_display_name(parts["original"].filename),
        kind=info.kind,
        duration=info.duration,
        info=info.to_dict(),
    )
    for role, path in paths.items():
        item.files.append(MediaFile(role=role, name=path.name, size=path.stat().st_size))
    db.session.add(item)
    try:
        submit(item, plan(*form.job_choices()))
    except Exception:
        db.session.rollback()
        _discard(paths)
        raise
    flash(f"“{item.title}” is uploaded; its jobs are queued.", "success")
    return redirect(url_for("videos.index"), code=303)


@bp.get("/videos/<item_id>/files/<name>")
@login_required
def file(item_id, name):
    item = owned_item(item_id)
    stored = next((f for f in item.files if f.name == name), None)
    if stored is None:
        abort(404)
    mimetype = mimetypes.guess_type(name)[0] or "application/octet-stream"
    download_name = _download_name(item, stored)
    return send_file(
        item_dir(item) / stored.name,
        mimetype=mimetype,
        conditional=True,
        as_attachment="download" in request.args,
        download_name=download_name,
    )


@bp.post("/videos/<item_id>/delete")
@login_required
def delete(item_id):
    item = owned_item(item_id)
    DeleteForm().validate_on_submit()  # CSRFProtect has already checked the token
    cancel_jobs(item.tasks)
    user_id, title = item.user_id, item.title
    db.session.delete(item)
    db.session.commit()
    remove_item_dir(user_id, item_id)
    flash(f"“{title}” is deleted and its space is free.", "success")
    return redirect(url_for("videos.index"), code=303)


def _extension(filename: str | None) -> str:
    """A safe extension from the client's file name (ffmpeg and browsers go by it), else none."""
    match = re.search(r"\.([A-Za-z0-9]{1,5})$", filename or "")
    return "." + match.group(1).lower() if match else ""


def _display_name(filename: str | None) -> str:
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    return name[:255] or "Untitled"


def _download_name(item: Item, stored: MediaFile) -> str:
    if stored.role == "original":
        return item.title
    stem = item.title.rsplit(".", 1)[0]
    return f"{stem} - {stored.name}"


def _discard(paths: dict) -> None:
    for path in paths.values():
        path.unlink(missing_ok=True)
