"""Forms of the videos area."""

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired


class UploadForm(FlaskForm):
    media = FileField("Media file", validators=[FileRequired("Choose a video or audio file to upload.")])
    external = FileField("External audio")


class DeleteForm(FlaskForm):
    pass
