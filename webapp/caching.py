"""HTTP caching: static files under versioned URLs kept for a year, private media revalidated by ETag."""

import hashlib
import os
from functools import lru_cache
from pathlib import Path

from flask import Flask, Response, current_app, request, request_finished, send_file
from werkzeug.http import parse_range_header
from werkzeug.security import safe_join

ONE_YEAR = 365 * 24 * 3600


def register_caching(app: Flask) -> None:
    app.url_defaults(_version_static_urls)
    request_finished.connect(_static_cache_headers, app)


def static_version(filename: str) -> str | None:
    """A short hash of a static file's content, or None when there is no such file."""
    path = safe_join(current_app.static_folder, filename)
    if path is None or not os.path.isfile(path):
        return None
    stat = os.stat(path)
    return _content_hash(path, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=256)
def _content_hash(path: str, mtime_ns: int, size: int) -> str:
    # Keyed by mtime and size: each file is read once per process, and again after an edit.
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()[:12]


def _version_static_urls(endpoint: str, values: dict) -> None:
    """url_for('static', filename=...) gets ?v=<content hash>, so a changed file gets a new URL."""
    if endpoint == "static" and "v" not in values:
        version = static_version(values.get("filename", ""))
        if version:
            values["v"] = version


def _static_cache_headers(sender, response: Response, **extra) -> None:
    """A URL with the current version never changes content, so browsers keep it a year without asking.

    Any other static URL (no version, or one from a page older than the file) keeps Flask's
    `no-cache`: it is revalidated with its ETag on every use.

    A request_finished receiver, not an after_request hook: Flask adds `Vary: Cookie` when it saves
    the session, after those hooks, because Flask-Login reads the session on every request. A static
    file does not depend on the cookie, and with that Vary a new session cookie (a login, a flashed
    message) would send browsers back for every file, and shared caches would keep a copy per cookie.
    """
    if request.endpoint != "static" or response.status_code >= 400:
        return
    response.vary.discard("Cookie")
    version = request.args.get("v")
    if version and version == static_version(request.view_args["filename"]):
        response.cache_control.no_cache = None
        response.cache_control.public = True
        response.cache_control.max_age = ONE_YEAR
        response.cache_control.immutable = True


def send_private_file(path: Path, **options) -> Response:
    """Send one user's file with validators, answering conditional and Range requests."""
    # One byte range is served as asked (206, or 416 past the end). A Range that does not parse or
    # counts in another unit must be ignored, and several ranges may be answered with the whole
    # file (RFC 9110, 14.2): 200 with everything, where werkzeug would refuse with 416.
    wanted = parse_range_header(request.headers.get("Range"))
    if wanted is None or wanted.units != "bytes" or len(wanted.ranges) != 1:
        request.environ.pop("HTTP_RANGE", None)
    response = send_file(path, etag=file_etag(path), conditional=True, **options)
    # Behind login, so `private`: no shared cache may keep it. `no-cache`: the browser may store it
    # but asks on every use, because running a job again replaces the file under the same URL and
    # access must be checked each time (a logged-out browser gets the login page, not its copy).
    # Asking is cheap: an unchanged file is a 304 without a body.
    response.cache_control.private = True
    response.cache_control.no_cache = True
    return response


def file_etag(path: Path) -> str:
    """A tag that changes whenever the file is written or replaced, without reading its content.

    Flask's tag (mtime, size, path) stays the same when a file is replaced by one of equal size with
    an equal mtime: timestamps can be coarse (a clock tick, or seconds on some filesystems) and copy
    tools keep the source's mtime. Jobs publish an output by renaming a new file into place, which
    gives it a new inode number; and the ctime changes on every write, rename or utime, and cannot be
    set back. Last-Modified stays the mtime, to the second, but browsers send If-None-Match with
    If-Modified-Since, and then the tag decides (RFC 9110, 13.2.2).
    """
    stat = os.stat(path)
    identity = f"{stat.st_ino}-{stat.st_size}-{stat.st_mtime_ns}-{stat.st_ctime_ns}"
    return hashlib.sha256(identity.encode()).hexdigest()[:32]
