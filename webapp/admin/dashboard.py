"""rq-dashboard mounted at /admin/rq for admins, as its docs describe embedding it in a Flask app.

Its blueprint is a module-level object, so the guard is attached here, once, at import time:
Flask refuses new hooks on a blueprint after it has been registered, and every app the factory
makes registers the same one.
"""

import rq_dashboard
from flask import Flask, abort, current_app, jsonify, request
from flask_wtf.csrf import generate_csrf
from rq import Queue
from rq_dashboard.web import setup_rq_connection

from webapp.admin import admins_only

URL_PREFIX = "/admin/rq"

# Its pages use inline scripts and styles and compile underscore templates (eval); every asset
# is served from its own static folder, so 'self' still holds for everything loaded.
RQ_DASHBOARD_CSP = "; ".join(
    [
        "default-src 'self'",
        "img-src 'self' data:",
        "style-src 'self' 'unsafe-inline'",
        "script-src 'self' 'unsafe-inline' 'unsafe-eval'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def _guard_prefix() -> None:
    """Anyone but an admin gets a 404 for every path under the prefix, the bare prefix too.

    An app hook, and the first: routing's slash redirect (308) and CSRF protection (400) answer
    before the blueprint's own hooks run, and either would show that something is there.
    """
    if request.path == URL_PREFIX or request.path.startswith(URL_PREFIX + "/"):
        admins_only()


def _guard():
    # "Requeue all" also answers GET, which CSRF protection does not cover; its button POSTs.
    if request.endpoint == "rq_dashboard.requeue_all" and request.method != "POST":
        abort(405)
    # rq's Queue.compact renames the queue's list, which an empty queue does not have (a Redis
    # error, so a 500): there is nothing to compact.
    if request.endpoint == "rq_dashboard.compact_queue":
        queue = Queue(request.view_args["queue_name"], connection=current_app.redis_conn)
        if queue.count == 0:
            return jsonify(status="OK")
    return None


def _dashboard_headers(response):
    if response.status_code >= 400:  # the guard's 404, among others: our own error page
        return response
    # Set before the app's after_request hook, whose setdefault then leaves it alone.
    response.headers["Content-Security-Policy"] = RQ_DASHBOARD_CSP
    # Its script sends the "_csrf_token" cookie back as X-CSRFToken, which Flask-WTF checks on
    # its POSTs (delete, requeue, empty); the token is the one our own pages carry.
    response.set_cookie(
        "_csrf_token", generate_csrf(), path=URL_PREFIX, samesite="Strict", secure=request.is_secure
    )
    return response


# First, before its own connection hook.
rq_dashboard.blueprint.before_request_funcs.setdefault(None, []).insert(0, _guard)
rq_dashboard.blueprint.after_request(_dashboard_headers)


def register_rq_dashboard(app: Flask) -> None:
    setup_rq_connection(app)  # builds a client; it connects on first use
    app.before_request_funcs.setdefault(None, []).insert(0, _guard_prefix)
    app.register_blueprint(rq_dashboard.blueprint, url_prefix=URL_PREFIX)
