"""Service stats: queues, workers, job counts and timings, volumes and storage, at /stats."""

from flask import Blueprint

bp = Blueprint("stats", __name__)

from webapp.stats import routes  # noqa: E402,F401
