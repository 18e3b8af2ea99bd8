"""Routes of the editor: the page, the edit as JSON (read, and replaced with If-Match), Render, Reset
and the filler phrases."""

import re

from flask import abort, flash, jsonify, make_response, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.exceptions import BadRequest, Conflict, PreconditionRequired

from jobs.edit import EditError, kept_length
from jobs.suggest import DEFAULT_PHRASES
from webapp import db, edits
from webapp.editor import bp
from webapp.editor.forms import FillersForm, PauseForm, RenderForm, ResetForm
from webapp.kinds import KINDS, source_role
from webapp.pipeline import live_states
from webapp.videos.routes import _go, owned_item, queue_kind

NOT_PREPARED = "This recording is still being prepared. The editor opens once preparation is done."
ORIGINAL_REMOVED = "The original recording was removed, so this item can no longer be edited."
NO_IF_MATCH = (
    'Send the version you changed in an If-Match header (If-Match: "3"), so a newer one is not overwritten.'
)
NOT_JSON = 'Send the edit as JSON: {"keep": [[start, end], ...]} in seconds.'
PAUSE_LENGTH = 0.3  # what a pause is shortened to unless the person picks another length


class NotPrepared(Conflict):
    description = NOT_PREPARED
    human = True


class OriginalRemoved(Conflict):
    description = ORIGINAL_REMOVED
    human = True


class NoIfMatch(PreconditionRequired):
    description = NO_IF_MATCH
    human = True


class BadIfMatch(BadRequest):
    description = NO_IF_MATCH
    human = True


def editable_item(item_id: str):
    """The current user's item, once it is prepared (its length known), else 404 or 409."""
    item = owned_item(item_id)
    if not edits.editable(item):
        # Retention removes the original of a prepared item: it will not be prepared again.
        raise OriginalRemoved if item.result("prepare") is not None else NotPrepared
    return item


def phrases() -> list[str]:
    return current_user.filler_phrases if current_user.filler_phrases is not None else list(DEFAULT_PHRASES)


def pause_length() -> float:
    form = PauseForm(request.args, meta={"csrf": False})
    return float(form.pause_length.data) if form.validate() and form.pause_length.data else PAUSE_LENGTH


@bp.get("/videos/<item_id>/edit")
@login_required
def edit(item_id):
    item = editable_item(item_id)
    edits.current(item)
    db.session.commit()
    return render_template("editor/edit.html", **page_context(item))


def page_context(item) -> dict:
    media = item.playable(source_role(item))
    waveform = item.file("synced_waveform") or item.file("waveform")
    return {
        "item": item,
        "media_url": url_for("videos.file", item_id=item.id, name=media.name) if media else None,
        "media_kind": item.kind,
        "waveform_url": waveform and url_for("videos.file", item_id=item.id, name=waveform.name),
        "json_url": url_for("editor.edit_json", item_id=item.id),
        "render_url": url_for("editor.render", item_id=item.id),
        "reset_url": url_for("editor.reset", item_id=item.id),
        "fillers_url": url_for("editor.fillers", item_id=item.id),
        "status_url": url_for("editor.status", item_id=item.id),
        "phrases": phrases(),
        "has_transcript": item.file("transcript_json") is not None,
        "transcribe_url": url_for("videos.again", item_id=item.id),
        "render_form": RenderForm(),
        "reset_form": ResetForm(),
        "fillers_form": FillersForm(formdata=None, phrases="\n".join(phrases())),
        **status_context(item),
    }


def status_context(item) -> dict:
    state = edits.render_state(item)
    task = next((t for t in item.tasks if state and t.id == state["task"]), None)
    return {
        "render_state": state,
        "render_live": live_states([task]).get(task.id) if task else None,
        "cut": item.playable("cut"),
    }


@bp.get("/videos/<item_id>/edit/status")
@login_required
def status(item_id):
    """The render's state, polled by the editor while it renders."""
    item = editable_item(item_id)
    return render_template("editor/_render.html", item=item, render_form=RenderForm(), **status_context(item))


@bp.get("/videos/<item_id>/edit.json")
@login_required
def edit_json(item_id):
    item = editable_item(item_id)
    data = edits.editor_data(item, phrases(), pause_length())
    db.session.commit()  # the edit, made the first time it is read
    return jsonify(data), {"ETag": f'"{data["version"]}"', "Cache-Control": "no-store"}


@bp.put("/videos/<item_id>/edit.json")
@login_required
def replace_edit(item_id):
    """Replace the kept ranges, if the version in If-Match is still the current one."""
    item = editable_item(item_id)
    try:
        data = save_sent_edit(item)
    except EditError as error:
        return problem(400, str(error))
    except edits.Conflict:
        current = edits.current(item)
        return problem(409, edits.CONFLICT, version=current.version)
    return jsonify(data), {"ETag": f'"{data["version"]}"'}


def save_sent_edit(item) -> dict:
    """Save the kept ranges the request's JSON sends on the version its If-Match names, and say
    what was saved; EditError (a reason) for a body that is no edit, edits.Conflict for a stale
    version. The editor's page and the API (webapp/api/) answer these each their own way."""
    version = if_match_version()
    body = json_body()
    if not isinstance(body, dict) or "keep" not in body:
        raise EditError(NOT_JSON)
    edit = edits.save(item, body["keep"], version, body.get("fade"))
    return {"version": edit.version, "keep": edit.keep, "kept_duration": round(kept_length(edit.keep), 6)}


def json_body():
    """The request's JSON, or None when it is not JSON or nests deeper than the parser can go."""
    try:
        return request.get_json(silent=True)
    except RecursionError:
        return None


def if_match_version() -> int:
    """The version named by If-Match ("3", 3 or W/"3"): 428 when there is none, 400 when it is no number.
    Also the API's (webapp/api/), whose errors are the same sentences as problem details."""
    if "If-Match" not in request.headers:
        raise NoIfMatch
    header = request.headers["If-Match"].strip().removeprefix("W/").strip('"')
    if not re.fullmatch(r"[0-9]{1,9}", header):  # not isdigit(): "²" is a digit int() refuses
        raise BadIfMatch
    return int(header)


def problem(code: int, message: str, **extra):
    return make_response(jsonify(error=message, **extra), code)


@bp.post("/videos/<item_id>/edit/render")
@login_required
def render(item_id):
    """Render the current edit (a job: its state shows in the editor and on the item page)."""
    item = editable_item(item_id)
    form = RenderForm()
    if not form.validate_on_submit():
        abort(400)
    refused = queue_kind(item, KINDS["render"], {})
    # htmx gets the render box, which says it all: a message flashed then would show on a later page.
    if "HX-Request" in request.headers:
        return status(item_id), 409 if refused else 200
    flash(refused or "Rendering the edit.", "error" if refused else "success")
    return _go(url_for("editor.edit", item_id=item.id))


@bp.post("/videos/<item_id>/edit/reset")
@login_required
def reset(item_id):
    """Back to the automatic cut (what silence removal kept, or the whole recording)."""
    item = editable_item(item_id)
    if not ResetForm().validate_on_submit():
        abort(400)
    try:
        edits.reset(item)
        flash("The edit is back to the automatic cut.", "success")
    except edits.Conflict:  # a change saved from another tab at the same moment
        flash(edits.CONFLICT, "error")
    return _go(url_for("editor.edit", item_id=item.id))


@bp.post("/videos/<item_id>/edit/fillers")
@login_required
def fillers(item_id):
    """The filler words and phrases the editor suggests cutting (the account's own list)."""
    item = editable_item(item_id)
    form = FillersForm()
    if form.validate_on_submit():
        current_user.filler_phrases = form.phrase_list()
        db.session.commit()
        flash("Filler phrases saved.", "success")
        return _go(url_for("editor.edit", item_id=item.id))
    for error in form.phrases.errors:
        flash(error, "error")
    return render_template("editor/edit.html", **{**page_context(item), "fillers_form": form}), 400
