"""The JSON API (/api/v1): the library's items, their jobs, files, edit and exports, the account's
usage and webhooks, for scripts. Callers authenticate with personal access tokens
(webapp/api/auth.py); the work is done by the same helpers as the pages' (webapp/videos/routes.py,
webapp/edits.py, webapp/pipeline.py, webapp/webhooks/)."""

from flask import Blueprint

PREFIX = "/api/v1"

bp = Blueprint("api", __name__, url_prefix=PREFIX)

from webapp.api import auth, hooks, routes  # noqa: E402,F401
