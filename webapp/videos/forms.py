"""Forms of the videos area."""

import unicodedata

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from werkzeug.datastructures import FileStorage
from wtforms import BooleanField, DecimalField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp

LANGUAGES = [SelectChoice("", "Detect"), SelectChoice("en", "English")]
SYNC_NEEDS_EXTERNAL = "To sync, add the External audio file as well."


class JobsForm(FlaskForm):
    """The job choices with their parameters; also the "Run again" form."""

    silence = BooleanField("Remove silence")
    threshold_db = StringField(
        "Silence threshold (dBFS)",
        default="auto",
        validators=[
            Optional(),
            Regexp(r"^(auto|-?\d+(\.\d+)?)$", message="Use auto, or a level such as -40."),
        ],
    )
    min_silence = DecimalField(
        "Shortest pause to cut (seconds)",
        default=0.5,
        places=2,
        validators=[Optional(), NumberRange(0.1, 10, "Between 0.1 and 10 seconds.")],
    )
    margin = DecimalField(
        "Margin kept around speech (seconds)",
        default=0.2,
        places=2,
        validators=[Optional(), NumberRange(0, 2, "Between 0 and 2 seconds.")],
    )

    sync = BooleanField("Sync external audio")
    external = FileField("External audio")
    keep_camera_audio = BooleanField("Keep the camera sound as a second track")

    transcribe = BooleanField("Transcribe")
    language = SelectField("Language", choices=LANGUAGES, default="")
    vad = BooleanField("Skip non-speech (voice activity filter)")

    def validate_threshold_db(self, field):
        if field.data and field.data != "auto" and not -90 <= float(field.data) < 0:
            raise ValueError("A level between -90 and 0 dBFS, or auto.")

    def job_choices(self) -> tuple[dict | None, dict | None, dict | None]:
        """The chosen jobs' parameters (None for a job not chosen), as pipeline.plan takes them."""
        sync = {"keep_camera_audio": self.keep_camera_audio.data} if self.sync.data else None
        silence = None
        if self.silence.data:
            # Fields left out of the request (scripts, curl) take their defaults.
            threshold = self.threshold_db.data or "auto"
            silence = {
                "threshold_db": threshold if threshold == "auto" else float(threshold),
                "min_silence": float(self.min_silence.data if self.min_silence.data is not None else 0.5),
                "margin": float(self.margin.data if self.margin.data is not None else 0.2),
            }
        transcribe = (
            {"language": self.language.data or None, "vad": self.vad.data} if self.transcribe.data else None
        )
        return sync, silence, transcribe

    def data_from(self, item) -> None:
        """Tick the jobs `item` last ran, with the settings they ran with (the "Run again" form)."""
        for task in item.current_tasks:
            if task.kind in ("sync", "silence", "transcribe"):
                self[task.kind].data = True
                for name, value in task.params.items():
                    if name in self:  # parameters are stored under their field's name
                        self[name].data = "" if value is None else value

    def chosen_external(self) -> FileStorage | None:
        """The External audio file sent with the form, if one was chosen."""
        upload = self.external.data
        return upload if isinstance(upload, FileStorage) and upload.filename else None


def upload_choices_problem(fields, external_chosen: bool, has_external: bool = False) -> str | None:
    """What makes the job choices in `fields` (a form's raw fields) impossible, or None.

    Serves the view and the upload stream, which calls it once the fields sent before the files are
    in, so a refusal comes before the files' bytes. `has_external`: the item already has one.
    """
    sync = fields.get("sync") not in (None, *BooleanField.false_values)
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
