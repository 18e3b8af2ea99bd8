"""The account page: usage against quota and password change."""

from flask import Blueprint

bp = Blueprint("account", __name__)

from webapp.account import routes  # noqa: E402,F401
