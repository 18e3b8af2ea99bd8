"""Small helpers shared by the blueprints: human-readable errors and template filters."""

from datetime import datetime

from flask import Flask
from werkzeug.exceptions import default_exceptions


def fail(code: int, message: str):
    """Abort with an error page that shows `message`, written for the person, not a developer."""
    error = default_exceptions[code](description=message)
    error.human = True
    raise error


def filesize(n: int | None) -> str:
    if n is None:
        return "–"
    size = float(n)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            break
        size /= 1000
    if unit == "bytes":
        return f"{int(size)} bytes"
    return f"{size:.1f} {unit}" if size < 100 else f"{size:.0f} {unit}"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else ""


def task_label(kind: str) -> str:
    from webapp.pipeline import TASK_KINDS

    return TASK_KINDS[kind]["label"]


def register_template_helpers(app: Flask) -> None:
    app.add_template_global(task_label)
    app.add_template_filter(filesize)
    app.add_template_filter(duration)
    app.add_template_filter(ordinal)
    app.add_template_filter(when)
