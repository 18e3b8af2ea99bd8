"""Operations: the admin page (users, quotas, access), rq-dashboard and the `flask` commands."""

from flask import Blueprint, abort
from flask_login import current_user

bp = Blueprint("admin", __name__)


def admins_only() -> None:
    """404 for anyone but a logged-in admin: the admin pages must look like no pages at all."""
    if not (current_user.is_authenticated and current_user.is_admin):
        abort(404)


bp.before_request(admins_only)

from webapp.admin import routes  # noqa: E402,F401
