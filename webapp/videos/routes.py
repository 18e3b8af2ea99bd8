"""Routes of the videos area."""

import re
from pathlib import Path
from typing import NamedTuple

import sqlalchemy as sa
from flask import Response, abort, flash, redirect, render_template, request, stream_with_context, url_for
from flask_login import current_user, login_required
from werkzeug.datastructures import FileStorage

from webapp import CONTENT_SECURITY_POLICY, db, edits, tus
from webapp.caching import send_private_file
from webapp.kinds import KINDS, Player, file_label, input_roles, plan
from webapp.mediatypes import served_type, stored_extension
from webapp.models import Item, MediaFile
from webapp.pipeline import cancel_jobs, live_states, require_queue, submit, submitting
from webapp.quota import biggest_items, space_full_message, space_left
from webapp.storage import item_dir, remove_item_dir
from webapp.videos import bp
from webapp.videos.forms import (
    SYNC_NEEDS_EXTERNAL,
    TITLE_MAX,
    DeleteForm,
    JobsForm,
    RenameForm,
    UploadForm,
    kind_form,
    upload_choices_problem,
)
from webapp.videos.names import display_name, download_name, folder_name
from webapp.ziparchive import content_disposition, streamed_zip

BUSY = "Wait until the running jobs have finished, then try again."

# Resumable uploads (tus) for the upload page's JavaScript, which sends the CSRF token in X-CSRFToken;
# scripts have the same at /api/v1/uploads.
tus.add_routes(bp, "/videos/uploads", guard=login_required)


def owned_item(item_id: str) -> Item:
    """The current user's item, or 404: another user's item must look like no item at all."""
    item = db.session.get(Item, item_id)
    if item is None or item.user_id != current_user.id:
        abort(404)
    return item


@bp.context_processor
def _space():
    """The upload page says how much space is left, or that none is; the item page whether it has an edit."""
    return {
        "editable": edits.editable,
        "render_state": edits.render_state,
        "space_left": space_left,
        "space_full_message": space_full_message,
        "sync_needs_external": SYNC_NEEDS_EXTERNAL,
    }


@bp.get("/")
def home():
    return redirect(url_for("videos.index" if current_user.is_authenticated else "auth.login"))


# A page of compact cards is a few screens long, on a phone too.
PER_PAGE = 12
LAST_PAGE = 10**6


@bp.get("/videos")
@login_required
def index():
    return render_template("videos/index.html", **_library())


@bp.get("/videos/live")
@login_required
def live():
    """The library's item list alone, polled by the page while work runs, and the usage header
    out of band: a job that finishes adds files, so the space used changes with it."""
    library = _library()
    usage = render_template("_usage.html", biggest=library["biggest"], swap_oob=True)
    return render_template("videos/_library.html", **library) + usage


def _library() -> dict:
    """One page of the user's items, newest first; with `q`, only those whose name holds it; with
    `batch`, only those uploaded in that batch."""
    q = request.args.get("q", "").strip()[:TITLE_MAX]
    batch = request.args.get("batch", "")[:32] or None
    query = sa.select(Item).where(Item.user_id == current_user.id)
    if q:
        # autoescape: a "%" or "_" in the search box is looked for as itself, not as a wildcard.
        query = query.where(Item.title.icontains(q, autoescape=True))
    if batch:
        query = query.where(Item.batch == batch)
    query = query.order_by(Item.created_at.desc(), Item.id.desc())
    # Bounded, or the database's offset overflows; any page past the end shows the last one.
    page = min(max(request.args.get("page", 1, type=int), 1), LAST_PAGE)
    pages = db.paginate(query, page=page, per_page=PER_PAGE, error_out=False)
    if pages.page > pages.pages > 0:  # past the end, as after deleting the last page's items
        pages = db.paginate(query, page=pages.pages, per_page=PER_PAGE, error_out=False)
    items = pages.items
    return {
        "items": items,
        "pages": pages,
        "q": q,
        "batch": batch,
        "batch_sizes": _batch_sizes({item.batch for item in items if item.batch}),
        "states": live_states([t for item in items for t in item.current_tasks]),
        "biggest": next((item for item, _ in biggest_items(current_user.id, 1)), None),
    }


def _batch_sizes(batches: set[str]) -> dict[str, int]:
    """How many of the user's items each of `batches` has (the library's "batch of 3" chips)."""
    if not batches:
        return {}
    counts = sa.select(Item.batch, sa.func.count(Item.id)).where(
        Item.user_id == current_user.id, Item.batch.in_(batches)
    )
    return dict(db.session.execute(counts.group_by(Item.batch)).all())


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
    return _item_page(owned_item(item_id))


@bp.post("/videos/<item_id>/rename")
@login_required
def rename(item_id):
    item = owned_item(item_id)
    form = RenameForm()
    if not form.validate_on_submit():
        return _item_page(item, rename_form=form), 400
    item.title = form.title.data
    db.session.commit()
    flash(f"Renamed to “{item.title}”.", "success")
    return redirect(url_for("videos.show", item_id=item.id), code=303)


def _item_page(item: Item, rename_form: RenameForm | None = None, asked=None):
    """The item page; `asked`: the form of a kind asked for on it, sent back with what was chosen."""
    players = _players(item)
    return render_template(
        "videos/show.html",
        item=item,
        states=live_states(item.current_tasks),
        delete_form=DeleteForm(),
        rename_form=rename_form or RenameForm(formdata=None, title=item.title),
        players=players,
        seek_player=f"player-{players[0]['role']}" if players else None,
        cards=_cards(item, asked),
    )


@bp.post("/videos/<item_id>/run/<kind_name>")
@login_required
def run_kind(item_id, kind_name):
    """Run a kind that is asked for on the item page, from its card's form (an export)."""
    item = owned_item(item_id)
    kind = KINDS.get(kind_name)
    if kind is None or kind.choice is None or kind.choice.on_upload:
        abort(404)
    form = kind_form(kind)
    if form.validate_on_submit():
        problem = queue_kind(item, kind, kind.choice.params(form))
        if problem is None:
            flash(f"“{kind.label}” is queued.", "success")
            return _go(url_for("videos.show", item_id=item.id))
        form.form_errors.append(problem)
    # Said at the top of the page: the card that asks may not be drawn (its inputs are missing).
    for error in [*form.form_errors, *(error for field in form for error in field.errors)]:
        flash(error, "error")
    return _item_page(item, asked=form), 409 if form.form_errors else 400


def queue_kind(item: Item, kind, params: dict) -> str | None:
    """Queue `kind` alone on `item` (prepared already): None once queued, else why it cannot run."""
    missing = [role for role in input_roles(kind, item) if item.file(role) is None]
    if item.busy:
        return BUSY
    if missing:
        needs = ", ".join(file_label(role) for role in missing)
        return f"“{kind.label}” needs what this item does not have yet: {needs}."
    if space_left(current_user) <= 0:
        return space_full_message(current_user, "nothing can run now")
    require_queue()
    with submitting(item) as idle:
        if idle:
            submit(item, plan({kind.name: params}, prepared=True))
            return None
    return BUSY


ORIGINAL_GONE = "The original recording of this item was removed, so it cannot be run again."


@bp.route("/videos/<item_id>/again", methods=["GET", "POST"])
@login_required
def again(item_id):
    """Run jobs again on the uploaded file with other settings, and add or replace the External audio."""
    item = owned_item(item_id)
    if item.file("original") is None:
        flash(ORIGINAL_GONE, "error")
        return redirect(url_for("videos.show", item_id=item.id), code=303)
    form = JobsForm()
    if request.method == "GET":
        form.data_from(item)
    if form.validate_on_submit():
        refused = run_again(item, form)
        if refused is None:
            flash(f"Running again on “{item.title}”.", "success")
            return _go(url_for("videos.show", item_id=item.id))
        return render_template("videos/again.html", item=item, form=form), refused
    return render_template("videos/again.html", item=item, form=form), 400 if form.errors else 200


def run_again(item: Item, form) -> int | None:
    """Queue the jobs ticked on a validated "Run again" `form` (the page's, or the API's), with its new
    External audio if one came: None once queued, else the refusal's status with its reasons on the
    form's fields (as the page shows them)."""
    external = form.chosen_external()
    choices = form.choices()
    has_external = item.file("external") is not None
    problem = upload_choices_problem(request.form, external is not None, has_external)
    if item.busy:
        form.form_errors.append(BUSY)
        return 409
    if problem:
        form.external.errors.append(problem)
    elif external is not None and "sync" not in choices:
        form.external.errors.append("Tick “Sync external audio” to use the new External audio.")
    elif space_left(current_user) <= 0:  # the new External audio already counts
        form.form_errors.append(space_full_message(current_user, "nothing can run again now"))
    elif not choices:
        form.form_errors.append("Tick at least one job.")
    else:
        require_queue()  # before anything is stored
        with submitting(item) as idle:
            if idle:
                if external is not None and (refused := _replace_external(item, external, form.external)):
                    return refused
                submit(item, plan(choices, prepared=True))
                return None
        form.form_errors.append(BUSY)
        return 409
    return 400


def _replace_external(item: Item, upload: FileStorage, field) -> int | None:
    """Store `upload` as the item's External audio in place of the old one; the refusal's status
    (with its reason on `field`) when it is not an audio recording."""
    path = upload.stream.keep(".external-new" + _extension(upload.filename))
    try:
        info = _checked_upload("external", path, field)
    except Refused as refused:
        path.unlink(missing_ok=True)
        return refused.status
    old = item.file("external")
    old_name = old and old.name
    if old is not None:
        item.files.remove(old)
        db.session.flush()
    # Over the old file when the names match; else the old one goes once the new row is in.
    path = path.rename(path.with_name("external" + stored_extension(info.container, info.kind)))
    key = upload.stream.content_key
    item.files.append(MediaFile(role="external", name=path.name, size=path.stat().st_size, content_key=key))
    db.session.commit()
    if old_name and old_name != path.name:
        (item_dir(item) / old_name).unlink(missing_ok=True)
    return None


@bp.route("/videos/new", methods=["GET", "POST"])
@login_required
def new():
    form = UploadForm()
    if not current_user.confirmed:
        return render_template("videos/new.html", form=form), 403 if request.method == "POST" else 200
    if not form.validate_on_submit():
        status = 400 if request.method == "POST" else 200
        return render_template("videos/new.html", form=form), status
    try:
        item = store_upload(form, form.media)
    except Refused as refused:
        return render_template("videos/new.html", form=form), refused.status
    flash(f"“{item.title}” is uploaded; its jobs are queued.", "success")
    return _go(url_for("videos.index"))


def store_upload(form, media, batch: str | None = None) -> Item:
    """Keep the files of a validated upload `form` (the page's, or the API's, whose `media` field
    differs) as a new item and queue its jobs. Their quota, size limit and free disk were checked as
    they streamed in (webapp/uploads.py). Raises Refused, with the reasons on the form's fields, when
    the choices or a file cannot be used: then nothing is kept."""
    require_queue()  # before anything is stored

    external = form.chosen_external()
    if problem := upload_choices_problem(request.form, external is not None):
        form.external.errors.append(problem)
        raise Refused(400)

    parts = {"original": media.data}
    if external is not None:
        parts["external"] = external
    stored = {
        role: StoredUpload(
            upload.stream.keep(role + _extension(upload.filename)),
            upload.stream.content_key,
            media if role == "original" else form.external,
        )
        for role, upload in parts.items()
    }
    return add_item(request.upload_item_id, parts["original"].filename, stored, form.choices(), batch)


class StoredUpload(NamedTuple):
    """An uploaded file in its item's folder: its path, the sha256 of its bytes, and the form field
    that takes its refusal."""

    path: Path
    content_key: str
    field: object


def add_item(item_id: str, filename: str, stored: dict, choices: dict, batch: str | None) -> Item:
    """Make the item `item_id` of the uploaded files `stored` ({role: StoredUpload}, in its folder)
    and queue the jobs `choices`: the end of every way in (the upload page, the API, tus). Each file
    is probed first; raises Refused, with the reason on its field, when one cannot be used, and then
    nothing of them is kept."""
    paths = {role: upload.path for role, upload in stored.items()}
    infos = {}
    for role, upload in stored.items():
        try:
            infos[role] = _checked_upload(role, upload.path, upload.field)
        except Refused:
            _discard(paths)
            raise

    # Stored under the extension of what the file is, not of what its name said.
    for role, path in paths.items():
        paths[role] = path.rename(
            path.with_name(role + stored_extension(infos[role].container, infos[role].kind))
        )

    info = infos["original"]
    item = Item(
        id=item_id,
        user_id=current_user.id,
        title=display_name(filename),
        kind=info.kind,
        duration=info.duration,
        info=info.to_dict(),
        batch=batch,
    )
    for role, path in paths.items():
        key = stored[role].content_key
        item.files.append(MediaFile(role=role, name=path.name, size=path.stat().st_size, content_key=key))
    db.session.add(item)
    try:
        submit(item, plan(choices))
    except Exception:
        db.session.rollback()
        _discard(paths)
        raise
    return item


class Refused(Exception):
    """An upload refused with `status`; the reasons are on the form's fields."""

    def __init__(self, status: int):
        self.status = status


UPLOAD_LABELS = {"original": "Media file", "external": "External audio"}
EMPTY = "{label}: the file is empty (0 bytes). Choose the recording itself."


def _checked_upload(role: str, path: Path, field):
    """The probe of a stored upload; raises Refused, with the reason on `field`, when the file is
    empty or not media, or is an External audio without sound."""
    from jobs.errors import MediaError
    from jobs.mediainfo import probe_in_child  # in a child: no PyAV in the web process

    label = UPLOAD_LABELS[role]
    if path.stat().st_size == 0:
        field.errors.append(EMPTY.format(label=label))
        raise Refused(400)
    try:
        info = probe_in_child(path)
    except MediaError as error:
        field.errors.append(f"{label}: {error}")
        raise Refused(415) from error
    if role == "external" and info.audio is None:
        field.errors.append(f"{label} has no sound in it. Choose an audio recording.")
        raise Refused(415)
    return info


@bp.get("/videos/<item_id>/files/<name>")
@login_required
def file(item_id, name):
    return send_item_file(owned_item(item_id), name)


def send_item_file(item: Item, name: str) -> Response:
    """One of the item's files, to download (`?download`) or stream with HTTP Range; 404 when the
    item has no such file."""
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
        download_name=download_name(item, stored),
    )
    # Opened on its own in a tab, a file runs no script and gets no access to this origin.
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY + "; sandbox"
    return response


@bp.get("/videos/<item_id>/exports/<fmt>.zip")
@login_required
def export_zip(item_id, fmt):
    from webapp.kinds.export import STALE, made

    item = owned_item(item_id)
    timeline = made(item, fmt)
    if timeline is None:
        abort(404)
    if timeline.stale:
        flash(STALE, "error")
        return _item_page(item), 409
    return timeline_zip(item, timeline)


def timeline_zip(item: Item, timeline) -> Response:
    """A timeline made on the item page, with the recording it names and its subtitles, as a zip
    written while it is sent (webapp/ziparchive.py): unpacked anywhere, the editor finds the
    recording beside the timeline by itself."""
    folder = folder_name(item.title)
    # Opened before the first byte goes: a file replaced or deleted meanwhile is still read whole
    # (an open file outlives its name), so a 200 is never followed by half a zip.
    opened = [(name, stored.open("rb")) for name, stored in timeline.entries]
    response = Response(stream_with_context(streamed_zip(folder, opened)), mimetype="application/zip")
    response.headers["Content-Disposition"] = content_disposition(f"{folder} - {timeline.label}.zip")
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY + "; sandbox"
    response.cache_control.private = True
    response.cache_control.no_store = True  # made anew on each request; nothing to validate
    return response


@bp.post("/videos/<item_id>/delete")
@login_required
def delete(item_id):
    item = owned_item(item_id)
    DeleteForm().validate_on_submit()  # CSRFProtect has already checked the token
    title = item.title
    delete_item(item)
    flash(f"“{title}” is deleted and its space is free.", "success")
    return redirect(url_for("videos.index"), code=303)


def delete_item(item: Item) -> None:
    """Stop the item's jobs, and delete its rows and its folder."""
    cancel_jobs(item.tasks)
    user_id, item_id = item.user_id, item.id
    db.session.delete(item)
    db.session.commit()
    remove_item_dir(user_id, item_id)


def _players(item: Item) -> list[dict]:
    """The players of the item page, the final result first, each with its subtitles: a player
    per kind whose output is there (the later in the pipeline, the further up), then the original."""
    views = [kind.player for kind in reversed(KINDS.values()) if kind.player]
    views.append(Player("original", "Original", None if item.file("synced") else "transcript_vtt"))
    players = []
    for view in views:
        if media := item.playable(view.role):
            track = view.subtitles and item.file(view.subtitles)
            players.append({"role": view.role, "heading": view.heading, "file": media, "track": track})
    return players


def _cards(item: Item, asked=None) -> list[dict]:
    """The result cards of the item page, in their kinds' `card_place`: each kind with a card whose
    data is there (its latest result, or what its card_data finds). A kind asked for on the item
    page gets its form too (`asked`, when it comes back with errors)."""
    cards = []
    for kind in sorted(KINDS.values(), key=lambda kind: kind.card_place):
        if kind.card:
            data = kind.card_data(item) if kind.card_data else item.result(kind.name)
            if data is not None:
                form = None
                if kind.choice and not kind.choice.on_upload:
                    form = asked if asked is not None else kind_form(kind, formdata=None)
                cards.append({"template": kind.card, "result": data, "form": form, "kind": kind})
    return cards


def _go(url: str):
    """Redirect; an htmx request (the upload with its progress bar) is told to navigate instead."""
    if "HX-Request" in request.headers:
        return "", 200, {"HX-Redirect": url}
    return redirect(url, code=303)


def _extension(filename: str | None) -> str:
    """A safe extension from the client's file name, for the probe to go by until it knows better."""
    match = re.search(r"\.([A-Za-z0-9]{1,5})$", filename or "")
    return "." + match.group(1).lower() if match else ""


def _discard(paths: dict) -> None:
    for path in paths.values():
        path.unlink(missing_ok=True)
