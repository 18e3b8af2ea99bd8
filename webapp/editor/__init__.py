"""The editor: an item's edit by transcript and waveform, its suggestions, and rendering it."""

from flask import Blueprint

bp = Blueprint("editor", __name__)

from webapp.editor import routes  # noqa: E402,F401
