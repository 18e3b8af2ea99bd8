"""Items' edits: the kept ranges the editor, silence removal and accepted suggestions decide, with
the version that keeps two tabs from overwriting each other, and the edit as the editor reads it."""

from sqlalchemy.exc import IntegrityError

from jobs import edit as ranges
from jobs import suggest
from webapp import db
from webapp.models import Edit, Item
from webapp.storage import stored_json

CONFLICT = (
    "This edit was changed in another tab or window since this one loaded it, so this change was "
    "not saved. The newer version is loaded here now; make the change again if you still want it."
)
# The kinds that render the edit: the editor's Render, and silence removal its automatic cut.
RENDERS = ("render", "silence")


def frame(item: Item) -> float:
    """One frame of the picture in seconds (what the editor nudges by); a hundredth for sound."""
    fps = ((item.info or {}).get("video") or {}).get("fps")
    return 1 / fps if fps else 0.01


def editable(item: Item) -> bool:
    """Whether the item has an edit to open: its recording is there and prepared (its length,
    waveform and browser preview made)."""
    return item.file("original") is not None and item.result("prepare") is not None


def current(item: Item) -> Edit:
    """The item's edit, made the first time it is asked for from what silence removal kept (items
    cut before there were edits), else the whole recording."""
    if item.edit is None:
        made = item.result("silence") or {}  # taken from an identical earlier item, say
        cutlist = made.get("cutlist")
        length = float(cutlist["duration"] if cutlist else item.duration or 0.0)
        cut = cutlist["keep"] if cutlist else [[0.0, length]]
        # The version its render says it is, so that render is not taken for out of date.
        version = made.get("edit_version", 1)
        edit = Edit(keep=cut, automatic=cut, duration=length, version=version, fade=ranges.DEFAULT_FADE)
        try:
            with db.session.begin_nested():  # a savepoint: the caller's own changes stay
                item.edit = edit
        except IntegrityError:  # another request made it at the same moment: take that one
            db.session.refresh(item, ["edit"])
    return item.edit


def as_stored(keep: list[tuple[float, float]]) -> list[list[float]]:
    return [[round(a, 6), round(b, 6)] for a, b in keep]


class Conflict(Exception):
    """A save against a version that is no longer the current one."""


def save(item: Item, keep, version: int, fade=None) -> Edit:
    """Replace the kept ranges, if `version` is still the current one; raises Conflict if not, and
    jobs.edit.EditError (a sentence for the person) for ranges that cannot be kept.

    The version is bumped in the UPDATE's own WHERE clause, so of two saves racing from two tabs
    (or two gunicorn workers) exactly one wins."""
    edit = current(item)
    normalized = as_stored(ranges.normalize(keep, edit.duration, frame(item)))
    new_fade = edit.fade if fade is None else ranges.check_fade(fade)
    changed = db.session.execute(
        db.update(Edit)
        .where(Edit.item_id == item.id, Edit.version == version)
        .values(keep=normalized, fade=new_fade, version=version + 1)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not changed:
        db.session.rollback()
        raise Conflict
    db.session.commit()
    db.session.refresh(edit)
    return edit


def set_automatic(item: Item, keep: list[tuple[float, float]], length: float) -> dict:
    """Silence removal found a new cut of the recording (`length` s): it becomes the edit, as a new
    version, and what Reset returns to. Returns it as edit_params does."""
    edit = current(item)
    cut = as_stored(ranges.normalize([list(r) for r in keep], length, frame(item)))
    db.session.execute(
        db.update(Edit)
        .where(Edit.item_id == item.id)
        .values(keep=cut, automatic=cut, duration=length, version=Edit.version + 1)
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(edit)
    return edit_params(item)


def reset(item: Item) -> Edit:
    """Back to the automatic cut, as a new version."""
    edit = current(item)
    return save(item, edit.automatic, edit.version)


def render_state(item: Item) -> dict | None:
    """The latest render of the edit: its version, its state, and whether the edit changed since."""
    renders = [t for t in item.tasks if t.kind in RENDERS]
    if not renders:
        return None
    task = renders[-1]
    # A render's own params say which version it is of (its result may be another item's it reused).
    version = task.params.get("edit", {}).get("version") or (task.result or {}).get("edit_version")
    return {
        "task": task.id,
        "kind": task.kind,
        "version": version,
        "status": task.status,
        "error": task.error,
        "stale": version != current(item).version,
    }


def editor_data(item: Item, phrases: list[str], pause_length: float) -> dict:
    """The edit as the editor (and a script) reads it: GET /videos/<id>/edit.json."""
    edit = current(item)
    length = edit.duration
    words = ranges.words(stored_json(item, "transcript_json") or {})
    spans = ranges.word_spans(words, length)
    heard = stored_json(item, "suggestions")  # the suggest job's pauses, hesitations and sounds
    for word, span in zip(words, spans, strict=True):
        word["span"] = list(span)
    return {
        "version": edit.version,
        "duration": length,
        "frame": frame(item),
        "fade": edit.fade,
        "keep": edit.keep,
        "kept_duration": round(ranges.kept_length(edit.keep), 6),
        "automatic": edit.automatic,  # what "Reset to automatic cut" returns to
        "words": words,
        "suggestions": suggest.suggestions(words, spans, heard, phrases, pause_length),
        "pause_length": pause_length,
        "render": render_state(item),
    }


def edit_params(item: Item) -> dict:
    """What a job that works on the current edit is given: it renders or exports exactly this."""
    edit = current(item)
    return {"version": edit.version, "keep": edit.keep, "fade": edit.fade, "duration": edit.duration}
