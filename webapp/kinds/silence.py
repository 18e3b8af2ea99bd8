"""Remove silence: cut the pauses out, keeping a margin around speech."""

from wtforms import DecimalField, StringField
from wtforms.validators import NumberRange, Optional, Regexp, ValidationError

from webapp import db, edits
from webapp.kinds import SOURCE, Choice, JobKind, Player
from webapp.kinds.render import render_edit
from webapp.tasks.outputs import sound, source, source_info

DEFAULTS = {"threshold_db": "auto", "min_silence": 0.5, "margin": 0.2}


def run(task, progress) -> dict:
    """Find the pauses (a fast pass over the sound), make the cut the item's edit at once (the
    editor can open it while the file renders), then render it as the editor's Render does."""
    from jobs.progress import part
    from jobs.silence import DETECT_SHARE, detect_silence

    item = task.item
    params = {**DEFAULTS, **task.params}
    known = source_info(item)
    cutlist = detect_silence(
        source(item),
        info=known,
        threshold_db=params["threshold_db"],
        min_silence=params["min_silence"],
        margin=params["margin"],
        on_progress=part(progress, 0.0, DETECT_SHARE),
        sound=sound(item),
    )
    edit = edits.set_automatic(item, cutlist.keep, cutlist.duration)
    db.session.commit()  # nothing stays open while the render runs
    # What the cut removes is silence, so an edge may take up to another margin of it to land on a
    # keyframe (a whole GOP copied instead of encoded).
    slack = float(params["margin"])
    return render_edit(task, edit, part(progress, DETECT_SHARE, 100.0), cutlist.details, slack)


def level(form, field) -> None:
    try:
        value = float(field.data)
    except (TypeError, ValueError):
        return  # empty, auto, or not a number (the pattern above says so)
    if not -90 <= value < 0:
        raise ValidationError("A level between -90 and 0 dBFS, or auto.")


def params(form) -> dict:
    # Fields left out of the request (scripts, curl) take their defaults.
    threshold = form.threshold_db.data or DEFAULTS["threshold_db"]
    return {
        "threshold_db": threshold if threshold == "auto" else float(threshold),
        "min_silence": float(
            form.min_silence.data if form.min_silence.data is not None else DEFAULTS["min_silence"]
        ),
        "margin": float(form.margin.data if form.margin.data is not None else DEFAULTS["margin"]),
    }


def figure(result: dict) -> str | None:
    if "removed_seconds" not in result:
        return None
    return f"removed {result['removed_seconds']:.1f} s ({result['removed_share'] * 100:.0f} %)"


KIND = JobKind(
    name="silence",
    label="Remove silence",
    runner=run,
    timeout=4 * 3600,
    inputs=(SOURCE,),
    outputs={"cut": "The cut", "cutlist": "Cut list", "cut_proxy": "Browser preview of the cut"},
    writes=2,  # a new copy of the recording, and pieces of one before they are joined
    keeps=1,
    after=("sync",),
    choice=Choice(
        hint="Cuts out the pauses, keeping a margin around speech so no word is clipped.",
        fields={
            "threshold_db": StringField(
                "Silence threshold (dBFS)",
                default=DEFAULTS["threshold_db"],
                description="auto reads the recording's own noise floor; or give a level such as -40.",
                validators=[
                    Optional(),
                    Regexp(r"^(auto|-?\d+(\.\d+)?)$", message="Use auto, or a level such as -40."),
                    level,
                ],
            ),
            "min_silence": DecimalField(
                "Shortest pause to cut (seconds)",
                default=DEFAULTS["min_silence"],
                places=2,
                description="Pauses shorter than this stay in. Default 0.5 s. The margin below stays on each "
                "side of a pause, so what is cut is shorter: a 0.5 s pause with 0.2 s margins loses 0.1 s.",
                validators=[Optional(), NumberRange(0.1, 10, "Between 0.1 and 10 seconds.")],
                render_kw={"step": "0.05", "min": "0.1", "max": "10"},
            ),
            "margin": DecimalField(
                "Margin kept around speech (seconds)",
                default=DEFAULTS["margin"],
                places=2,
                description="Sound kept before and after speech. Default 0.2 s.",
                validators=[Optional(), NumberRange(0, 2, "Between 0 and 2 seconds.")],
                render_kw={"step": "0.05", "min": "0", "max": "2"},
            ),
        },
        params=params,
    ),
    figure=figure,
    card_place=10,
    card="kinds/silence_card.html",
    player=Player("cut", "Result: the cut", "cut_vtt"),
    order=20,
)
