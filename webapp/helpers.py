"""Small helpers shared by the blueprints: human-readable errors and template filters."""

from datetime import UTC, datetime

from flask import Flask
from markupsafe import Markup


def filesize(n: int | None) -> str:
    """Bytes in powers of 1024, the units quotas are set in: "5.0 GiB" (app.js formatBytes agrees)."""
    if n is None:
        return "–"
    size = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        # Rounded as shown: 1023.7 KiB would read "1024 KiB", so it goes up a unit.
        if round(size) < 1024 or unit == "PiB":
            break
        size /= 1024
    if unit == "bytes":
        return f"{int(size)} bytes"
    return f"{size:.1f} {unit}" if size < 100 else f"{size:.0f} {unit}"


def duration(seconds: float | None) -> str:
    """A length as players show it: whole seconds, rounded down (17.83 s is 0:17, as a player says)."""
    if seconds is None:
        return "–"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def plural(n: int, word: str, words: str | None = None) -> str:
    """A count with its noun: "1 word", "2 words" (`words` where adding an s is wrong)."""
    return f"{n} {word if n == 1 else words or word + 's'}"


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def when(value: datetime | None) -> Markup:
    """A moment as a <time> element: UTC as text, which app.js rewrites in the browser's time zone."""
    if value is None:
        return Markup("")
    if value.tzinfo is not None:  # the database's times are naive UTC; others are made so
        value = value.astimezone(UTC).replace(tzinfo=None)
    return Markup('<time datetime="{}Z" data-local>{}</time>').format(
        value.isoformat(timespec="seconds"), value.strftime("%Y-%m-%d %H:%M UTC")
    )


def day(value: datetime | None) -> str:
    """A date as people write it: 12 Dec 2026."""
    return f"{value.day} {value:%b %Y}" if value else ""


def time_left(seconds: float) -> str:
    if seconds < 60:
        return "under a minute left"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"about {minutes} min left"
    return f"about {minutes // 60} h {minutes % 60:02d} min left"


# Checked in order: Edge and Opera also say "Chrome", Chrome also says "Safari", Android also "Linux".
BROWSERS = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)
SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("Linux", "Linux"),
)


def device(user_agent: str | None) -> str:
    """A browser's User-Agent as a person names it: "Chrome on Linux"; else the string, shortened."""
    ua = user_agent or ""
    browser = next((name for mark, name in BROWSERS if mark in ua), None)
    system = next((name for mark, name in SYSTEMS if mark in ua), None)
    if browser:
        return f"{browser} on {system}" if system else browser
    return ua[:60] or "An unknown browser"


def queue_noun(queue: str) -> str:
    from webapp.queues import QUEUE_NOUNS

    return QUEUE_NOUNS.get(queue, queue)


def task_label(kind: str) -> str:
    from webapp.kinds import KINDS

    return KINDS[kind].label if kind in KINDS else kind  # a kind since removed, in old rows


def register_template_helpers(app: Flask) -> None:
    from webapp.kinds import KINDS, file_label
    from webapp.pipeline import queue_unavailable
    from webapp.retention import retention

    app.add_template_global(retention)
    app.add_template_global(task_label)
    app.add_template_global(file_label)
    app.add_template_global(queue_noun)
    app.add_template_global(queue_unavailable)
    app.add_template_global(KINDS, "kinds")
    app.add_template_filter(time_left)
    app.add_template_filter(device)
    app.add_template_filter(filesize)
    app.add_template_filter(duration)
    app.add_template_filter(ordinal)
    app.add_template_filter(plural)
    app.add_template_filter(when)
    app.add_template_filter(day)
