"""Forms of the videos area."""

import unicodedata

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from werkzeug.datastructures import FileStorage
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from webapp.kinds import KINDS, Switch, choice_fields, chosen_on_upload

SYNC_NEEDS_EXTERNAL = "To sync, add the External audio file as well."


class _Jobs(FlaskForm):
    """The job choices with their parameters (each kind's, from webapp/kinds/); also the "Run
    again" form. Made into JobsForm below with every kind's fields."""

    # A second upload some kinds work on (sync); the view checks it is there when one is chosen.
    external = FileField("External audio")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for kind in chosen_on_upload():
            if kind.choice.setup:
                kind.choice.setup(self)

    def choices(self) -> dict[str, dict]:
        """{kind: params} of the ticked jobs, as webapp.kinds.plan takes them."""
        return {kind.name: kind.choice.params(self) for kind in chosen_on_upload() if self[kind.name].data}

    def data_from(self, item) -> None:
        """Tick the jobs `item` last ran, with the settings they ran with (the "Run again" form)."""
        for task in item.current_tasks:
            if task.kind in self and task.kind in KINDS:
                self[task.kind].data = True
                for name, value in task.params.items():
                    if name in self:  # parameters are stored under their field's name
                        self[name].data = "" if value is None else value

    def chosen_external(self) -> FileStorage | None:
        """The External audio file sent with the form, if one was chosen."""
        upload = self.external.data
        return upload if isinstance(upload, FileStorage) and upload.filename else None


JobsForm = type("JobsForm", (_Jobs,), choice_fields())


_KIND_FORMS = {}


def kind_form(kind, **kwargs) -> FlaskForm:
    """The form of a kind asked for on the item page (its card), made from its choice's fields."""
    if kind.name not in _KIND_FORMS:
        _KIND_FORMS[kind.name] = type(f"{kind.name.title()}Form", (FlaskForm,), dict(kind.choice.fields))
    form = _KIND_FORMS[kind.name](**kwargs)
    if kind.choice.setup:
        kind.choice.setup(form)
    return form


def upload_choices_problem(fields, external_chosen: bool, has_external: bool = False) -> str | None:
    """What makes the job choices in `fields` (a form's raw fields) impossible, or None.

    Serves the view and the upload stream, which calls it once the fields sent before the files are
    in, so a refusal comes before the files' bytes. `has_external`: the item already has one.
    """
    sync = str(fields.get("sync", "")).strip().lower() in Switch.YES
    if sync and not (external_chosen or has_external):
        return SYNC_NEEDS_EXTERNAL
    return None


class UploadForm(JobsForm):
    media = FileField("Media file", validators=[FileRequired("Choose a video or audio file to upload.")])


class DeleteForm(FlaskForm):
    pass


# The most characters of an item's name (the database column's length).
TITLE_MAX = 255


def printable(text: str | None) -> str:
    """`text` without control and format characters (NUL, ESC, DEL, bidi overrides...), trimmed."""
    unwanted = ("C", "Zl", "Zp")
    return "".join(
        " " if c.isspace() else "" if unicodedata.category(c).startswith(unwanted) else c for c in text or ""
    ).strip()


class RenameForm(FlaskForm):
    title = StringField(
        "New name",
        filters=[printable],
        validators=[
            DataRequired("Write the new name."),
            Length(max=TITLE_MAX, message=f"Use at most {TITLE_MAX} characters."),
        ],
    )
