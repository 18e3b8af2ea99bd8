"""Routes of the videos area."""

import json
import re
import unicodedata
from pathlib import PurePath

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.datastructures import FileStorage

from webapp import CONTENT_SECURITY_POLICY, db
from webapp.caching import send_private_file
from webapp.mediatypes import served_type, stored_extension
from webapp.models import Item, MediaFile
from webapp.pipeline import cancel_jobs, live_states, plan, require_queue, submit
from webapp.quota import space_full_message, space_left
from webapp.storage import item_dir, remove_item_dir
from webapp.videos import bp
from webapp.videos.forms import DeleteForm, JobsForm, UploadForm


def owned_item(item_id: str) -> Item:
    """The current user's item, or 404: another user's item must look like no item at all."""
    item = db.session.get(Item, item_id)
    if item is None or item.user_id != current_user.id:
        abort(404)
    return item


@bp.context_processor
def _space():
    """The upload page says how much space is left, or that none is."""
    return {"space_left": space_left, "space_full_message": space_full_message}


@bp.get("/")
def home():
    return redirect(url_for("videos.index" if current_user.is_authenticated else "auth.login"))


@bp.get("/videos")
@login_required
def index():
    return render_template("videos/index.html", **_library())


@bp.get("/videos/live")
@login_required
def live():
    """The library's item list alone, polled by the page while work runs."""
    return render_template("videos/_library.html", **_library())


def _library() -> dict:
    items = db.session.scalars(
        sa.select(Item).where(Item.user_id == current_user.id).order_by(Item.created_at.desc())
    ).all()
    return {"items": items, "states": live_states([t for item in items for t in item.current_tasks])}


@bp.get("/videos/<item_id>/progress")
@login_required
def progress(item_id):
    """The item page's task list, polled while work runs."""
    item = owned_item(item_id)
    html = render_template(
        "videos/_tasks.html", item=item, states=live_states(item.current_tasks), poll_tasks=True
    )
    # Once the work is over, the item page reloads so its new outputs show.
    return html, {"HX-Refresh": "true"} if not item.busy and "HX-Request" in request.headers else {}


@bp.get("/videos/<item_id>")
@login_required
def show(item_id):
    item = owned_item(item_id)
    players = _players(item)
    return render_template(
        "videos/show.html",
        item=item,
        states=live_states(item.current_tasks),
        delete_form=DeleteForm(),
        players=players,
        seek_player=f"player-{players[0]['role']}" if players else None,
        silence=item.result("silence"),
        sync=item.result("sync"),
        transcript=_paragraphs(item),
    )


@bp.route("/videos/<item_id>/again", methods=["GET", "POST"])
@login_required
def again(item_id):
    """Run jobs again on the uploaded file with other settings."""
    item = owned_item(item_id)
    if item.file("original") is None:
        flash("The original recording of this item was removed, so it cannot be run again.", "error")
        return redirect(url_for("videos.show", item_id=item.id), code=303)
    form = JobsForm()
    if form.validate_on_submit():
        sync, silence, transcribe = form.job_choices()
        if sync is not None and item.file("external") is None:
            sync = None
        if item.busy:
            form.form_errors.append("Wait until the running jobs have finished, then run again.")
        elif space_left(current_user) <= 0:
            form.form_errors.append(space_full_message(current_user, "nothing can run again now"))
        elif not any((sync, silence, transcribe)):
            form.form_errors.append("Tick at least one job.")
        else:
            require_queue()
            submit(item, plan(sync, silence, transcribe)[1:])  # the preparation is already done
            flash(f"Running again on “{item.title}”.", "success")
            return _go(url_for("videos.show", item_id=item.id))
        return render_template("videos/again.html", item=item, form=form), 400
    return render_template("videos/again.html", item=item, form=form), 400 if form.errors else 200


@bp.route("/videos/new", methods=["GET", "POST"])
@login_required
def new():
    form = UploadForm()
    if not current_user.confirmed:
        return render_template("videos/new.html", form=form), 403 if request.method == "POST" else 200
    if not form.validate_on_submit():
        status = 400 if request.method == "POST" else 200
        return render_template("videos/new.html", form=form), status
    require_queue()  # before anything is stored

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

    # Stored under the extension of what the file is, not of what its name said.
    for role, path in paths.items():
        paths[role] = path.rename(
            path.with_name(role + stored_extension(infos[role].container, infos[role].kind))
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
        key = parts[role].stream.content_key
        item.files.append(MediaFile(role=role, name=path.name, size=path.stat().st_size, content_key=key))
    db.session.add(item)
    try:
        submit(item, plan(*form.job_choices()))
    except Exception:
        db.session.rollback()
        _discard(paths)
        raise
    flash(f"“{item.title}” is uploaded; its jobs are queued.", "success")
    return _go(url_for("videos.index"))


@bp.get("/videos/<item_id>/files/<name>")
@login_required
def file(item_id, name):
    item = owned_item(item_id)
    stored = next((f for f in item.files if f.name == name), None)
    path = item_dir(item) / name
    # A row whose file is gone (a disk restored from backup, a job that failed while replacing
    # it) is a missing file to the person, not a server error; `flask cleanup` drops the row.
    if stored is None or not path.is_file():
        abort(404)
    mimetype, inline = served_type(name)
    response = send_private_file(
        path,
        mimetype=mimetype,
        as_attachment="download" in request.args or not inline,
        download_name=_download_name(item, stored),
    )
    # Opened on its own in a tab, a file runs no script and gets no access to this origin.
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY + "; sandbox"
    return response


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


def _players(item: Item) -> list[dict]:
    """The players of the item page, the final result first, each with its subtitles."""
    views = [
        ("cut", "Result: silence removed", "cut_vtt"),
        ("synced", "With the external audio", "transcript_vtt"),
        ("original", "Original", None if item.file("synced") else "transcript_vtt"),
    ]
    players = []
    for role, heading, track in views:
        if media := item.playable(role):
            players.append(
                {"role": role, "heading": heading, "file": media, "track": track and item.file(track)}
            )
    return players


def _paragraphs(item: Item) -> list[dict]:
    """The transcript as readable paragraphs, each with its start time on the main player."""
    stored = item.file("cut_json") or item.file("transcript_json")
    path = stored and item_dir(item) / stored.name
    if path is None or not path.is_file():  # none made, or gone from the disk (see `file`)
        return []
    segments = json.loads(path.read_text()).get("segments", [])
    paragraphs, current, last_end = [], None, None
    for segment in segments:
        # A new paragraph after a pause or once one grows long.
        if current is None or segment["start"] - last_end > 1.5 or len(current["text"]) > 400:
            current = {"start": segment["start"], "text": ""}
            paragraphs.append(current)
        current["text"] = (current["text"] + " " + segment["text"].strip()).strip()
        last_end = segment["end"]
    return paragraphs


def _go(url: str):
    """Redirect; an htmx request (the upload with its progress bar) is told to navigate instead."""
    if "HX-Request" in request.headers:
        return "", 200, {"HX-Redirect": url}
    return redirect(url, code=303)


def _extension(filename: str | None) -> str:
    """A safe extension from the client's file name, for the probe to go by until it knows better."""
    match = re.search(r"\.([A-Za-z0-9]{1,5})$", filename or "")
    return "." + match.group(1).lower() if match else ""


def _display_name(filename: str | None) -> str:
    name = _printable((filename or "").replace("\\", "/").rsplit("/", 1)[-1])
    return name[:255] or "Untitled"


def _download_name(item: Item, stored: MediaFile) -> str:
    """An original: the title with the stored extension; an output: the title's stem and its name."""
    # A title stored before names were cleaned may hold control characters; a header may not.
    stem = _printable(item.title).rsplit(".", 1)[0] or "Untitled"
    if stored.role == "original":
        return stem + PurePath(stored.name).suffix
    return f"{stem} - {stored.name}"


def _printable(text: str) -> str:
    """`text` without control and format characters (NUL, ESC, DEL, bidi overrides...), trimmed."""
    unwanted = ("C", "Zl", "Zp")
    return "".join(
        " " if c.isspace() else "" if unicodedata.category(c).startswith(unwanted) else c for c in text
    ).strip()


def _discard(paths: dict) -> None:
    for path in paths.values():
        path.unlink(missing_ok=True)
