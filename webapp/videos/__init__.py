"""The library: uploading, listing, watching progress, opening, downloading and deleting items."""

from flask import Blueprint

bp = Blueprint("videos", __name__)

from webapp.videos import routes  # noqa: E402,F401
