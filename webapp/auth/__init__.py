"""Accounts: sign up, email confirmation, log in and out, password reset."""

from flask import Blueprint

bp = Blueprint("auth", __name__)

from webapp.auth import routes  # noqa: E402,F401
