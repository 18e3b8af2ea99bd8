"""The Cutroom web app: extension objects and the app factory, which only wires things together."""

import json
import logging
import os
import sqlite3
import threading
from pathlib import Path

import redis
from flask import Flask, abort, render_template, request, request_finished
from flask_caching import Cache
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFError, CSRFProtect
from markupsafe import escape
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter, UnicodeConverter


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
# The folder by absolute path, so `flask db` works from any directory. render_as_batch: SQLite cannot
# ALTER most things in place, so its migrations rebuild the table instead.
MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
migrate = Migrate(directory=str(MIGRATIONS), render_as_batch=True, compare_type=True)


class _LoginManager(LoginManager):
    def unauthorized(self):
        """Pages send a visitor to log in; JSON (the edit, read by scripts) answers 401 instead of
        a redirect to a login form a script cannot use."""
        if request.path.endswith(".json"):
            abort(401)
        return super().unauthorized()


login_manager = _LoginManager()
csrf = CSRFProtect()
cache = Cache()

# htmx is served from static/, and the pages use no inline script or style, so 'self' suffices.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "img-src 'self' data:",
        "media-src 'self'",
        "style-src 'self'",
        "script-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record):
    """WAL and a busy timeout let the web server and the workers write to one SQLite file at once."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=15000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


class RowId(IntegerConverter):
    """`<int:…>` in every route: a row id, so one longer than any a database column holds (SQLite
    raises past 2**63: a 500) matches no route and is not found, as a missing row is. By the
    pattern, not a `max`: a value the converter refuses after matching makes Werkzeug answer other
    methods with 405."""

    regex = r"\d{1,18}"


class Text(UnicodeConverter):
    """A path part in every route: never with a NUL, which PostgreSQL refuses in text (a 500 where
    SQLite finds no row), so such a path matches no route and is not found."""

    def __init__(self, url_map, **kwargs):
        super().__init__(url_map, **kwargs)
        self.regex = self.regex.replace("[^/]", "[^/\\x00]")  # keeps minlength and the like


def create_app(config: dict | None = None) -> Flask:
    from webapp import config as settings
    from webapp.pipeline import redis_options
    from webapp.requestbody import bound_request_bodies
    from webapp.uploads import UploadRequest

    instance = os.environ.get("INSTANCE_PATH")  # default: instance/ beside the code
    app = Flask(
        __name__, instance_relative_config=True, instance_path=instance and str(Path(instance).resolve())
    )
    app.request_class = UploadRequest
    app.url_map.converters["int"] = RowId
    app.url_map.converters["default"] = app.url_map.converters["string"] = Text
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config.from_mapping(settings.from_environment(Path(app.instance_path)))
    if config:
        app.config.from_mapping(config)
    Path(app.config["MEDIA_ROOT"]).mkdir(parents=True, exist_ok=True)
    app.wsgi_app = bound_request_bodies(app.wsgi_app, app.config["BODY_TIMEOUT"])
    app.extensions["upload_slots"] = threading.BoundedSemaphore(app.config["UPLOAD_SLOTS"])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    if app.config["TRUSTED_PROXIES"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)

    db.init_app(app)
    migrate.init_app(app, db)
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please log in to see that page."
    login_manager.login_message_category = "info"
    # The cache's settings are in config; its redis-py client options come from where the queues'
    # client gets its own (a page must not hang on it).
    app.config.setdefault("CACHE_OPTIONS", redis_options(wait=False))
    cache.init_app(app)

    from webapp.account import bp as account_bp
    from webapp.api import bp as api_bp
    from webapp.api.cli import tokens_cli
    from webapp.auth import bp as auth_bp
    from webapp.editor import bp as editor_bp
    from webapp.stats import bp as stats_bp
    from webapp.videos import bp as videos_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(videos_bp)
    app.register_blueprint(editor_bp)
    app.register_blueprint(account_bp)
    app.register_blueprint(stats_bp)
    app.register_blueprint(api_bp)
    # The API takes bearer tokens only, never cookies, so no other site can send a request as a
    # logged-in person there: nothing for a CSRF token to guard.
    csrf.exempt(api_bp)
    app.cli.add_command(tokens_cli)

    from webapp.admin import bp as admin_bp
    from webapp.admin.cli import register_commands
    from webapp.admin.dashboard import register_rq_dashboard

    app.register_blueprint(admin_bp)
    register_rq_dashboard(app)
    register_commands(app)

    from webapp.schema import db_ready

    app.cli.add_command(db_ready)

    app.after_request(_security_headers)
    request_finished.connect(_secure_cookies, app)
    app.teardown_request(_discard_unkept_uploads)
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(redis.ConnectionError, _queue_unavailable)
    app.register_error_handler(redis.TimeoutError, _queue_unavailable)

    from webapp.caching import register_caching
    from webapp.helpers import register_template_helpers

    register_caching(app)
    register_template_helpers(app)

    return app


@login_manager.user_loader
def _load_user(token: str):
    """The user of the login whose session or remember-me cookie carries `token`."""
    from webapp.models import LoginSession

    login = LoginSession.find(token)
    # A disabled account's sessions and remember-me cookies stop working at once.
    if login is None or login.user.disabled:
        return None
    login.user.current_login = login
    return login.user


def _security_headers(response):
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    if request.is_secure:
        response.headers["Strict-Transport-Security"] = "max-age=31536000"
    return response


def _secure_cookies(sender, response, **extra) -> None:
    """Cookies are Secure whenever the site is served over HTTPS, whatever the config says.

    A request_finished receiver, not an after_request hook: Flask saves the session, and
    Flask-Login sets its remember-me cookie, only after the hooks registered here have run.
    """
    if not request.is_secure:
        return
    cookies = response.headers.getlist("Set-Cookie")
    if cookies:
        response.headers.remove("Set-Cookie")
        for cookie in cookies:
            secure = "; secure" in cookie.lower()
            response.headers.add("Set-Cookie", cookie if secure else cookie + "; Secure")


def _discard_unkept_uploads(_exc) -> None:
    request.discard_unkept_uploads()


def _csrf_error(error: CSRFError):
    if request.path.endswith(".json"):
        return {"error": CSRF_EXPIRED}, 400
    return render_template(
        "errors/error.html",
        code=400,
        title="This form has expired",
        message=CSRF_EXPIRED,
    ), 400


CSRF_EXPIRED = (
    "The page was open too long or the form was sent from somewhere else. Reload the page and try again."
)


ERROR_TEXT = {
    400: ("Bad request", "The request could not be understood. Go back and try again."),
    401: ("Log in first", "Log in to Cutroom to see this."),
    403: ("Not allowed", "You do not have access to this page."),
    404: ("Not found", "There is nothing here. It may have been deleted, or the link is wrong."),
    405: ("Not allowed", "That action is not available here."),
    413: ("Too large", "The upload is larger than allowed."),
    429: ("Too many attempts", "Wait a little and try again."),
    500: ("Something went wrong", "An error on our side. Try again in a moment."),
    507: ("Not enough disk space", "The server's disk is nearly full. Try again later."),
}


def _queue_unavailable(error: redis.RedisError):
    """Redis went away during a request that needs it: say so (503), not "something went wrong"."""
    from webapp.pipeline import QueueUnavailable

    logging.getLogger(__name__).warning("Redis does not answer: %s", error)
    return _http_error(QueueUnavailable())


API_PREFIX = "/api"

# The error page when the page itself cannot be made: plain, with nothing to load.
BARE_ERROR_PAGE = (
    '<!doctype html><html lang="en"><meta charset="utf-8"><title>{title} · Cutroom</title>'
    '<h1>{title}</h1><p>{message}</p><p><a href="/">Back to Cutroom</a></p></html>'
)


def _http_error(error: HTTPException):
    if error.code in (413, 507):  # refused uploads
        request.drain()
    if error.code >= 500:
        # A failed flush leaves the session unusable, and the page loads the current user with it.
        db.session.rollback()
    title, message = ERROR_TEXT.get(error.code, (error.name, error.description))
    # Our own aborts carry a message written for people; werkzeug's defaults don't.
    if getattr(error, "human", False):
        message = error.description
    response = error.get_response()
    if request.path.startswith(API_PREFIX + "/"):  # unknown API routes too: scripts read problems
        from webapp.api.problems import as_problem

        return as_problem(response, message)
    if request.path.endswith(".json"):  # read by scripts and the editor's JavaScript
        response.set_data(json.dumps({"error": message}))
        response.mimetype = "application/json"
        return response
    try:
        body = render_template("errors/error.html", code=error.code, title=title, message=message)
    except Exception:  # the error page must never fail
        logging.getLogger(__name__).exception("The error page failed; sent the bare one")
        body = BARE_ERROR_PAGE.format(title=escape(title), message=escape(message))
    response.set_data(body)
    response.mimetype = "text/html"
    return response
