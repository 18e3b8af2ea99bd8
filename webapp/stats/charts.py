"""Chart geometry for /stats: bars, axes and labels as plain shapes that `_chart.html` draws as SVG.

Drawn on the server so the page needs no script; colours come from CSS classes, so the
charts follow the light and dark themes.
"""

import math
from dataclasses import dataclass, field

from webapp.helpers import task_label


@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    css: str
    title: str


@dataclass
class Line:
    x1: float
    y1: float
    x2: float
    y2: float
    css: str


@dataclass
class Text:
    x: float
    y: float
    text: str
    css: str = "tick"
    anchor: str = "middle"
    rotate: bool = False  # a vertical axis title


@dataclass
class Chart:
    css: str
    width: int
    height: int
    label: str  # what a screen reader says for the whole chart
    bars: list[Bar] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    texts: list[Text] = field(default_factory=list)


def nice_ticks(maximum: float, count: int = 4, whole: bool = False) -> list[float]:
    """Round tick values from 0 to at least `maximum`, about `count` steps apart."""
    maximum = maximum if maximum > 0 else 1
    raw = maximum / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    if whole:
        step = max(1, round(step))
    steps = math.ceil(maximum / step - 1e-9)
    return [round(i * step, 10) for i in range(steps + 1)]


def tick_text(value: float) -> str:
    return f"{value:g}"


def speed_text(value: float) -> str:
    return f"{value:.0f}×" if value >= 100 else f"{value:.1f}×"


def jobs_per_hour(hours) -> Chart:
    """Stacked bars per clock hour: done at the bottom, failed on top."""
    width, height = 720, 240
    left, right, top, bottom = 44, 12, 12, 52
    plot_w, plot_h = width - left - right, height - top - bottom
    done, failed = sum(h.done for h in hours), sum(h.failed for h in hours)
    chart = Chart(
        "chart jobs-chart",
        width,
        height,
        f"Jobs finished per hour over the last {len(hours)} hours: {done} done, {failed} failed",
    )
    ticks = nice_ticks(max((h.done + h.failed for h in hours), default=0), whole=True)
    scale = plot_h / ticks[-1]
    base = top + plot_h
    for value in ticks:
        y = round(base - value * scale, 1)
        chart.lines.append(Line(left, y, width - right, y, "grid"))
        chart.texts.append(Text(left - 6, y + 4, tick_text(value), anchor="end"))
    slot = plot_w / max(len(hours), 1)
    for i, hour in enumerate(hours):
        x = round(left + i * slot + slot * 0.15, 1)
        span = f"{hour.start:%a %H:00}–{(hour.start.hour + 1) % 24:02d}:00 UTC"
        y = base
        for count, css, word in ((hour.done, "bar-done", "done"), (hour.failed, "bar-failed", "failed")):
            if count:
                h = count * scale
                y -= h
                chart.bars.append(
                    Bar(x, round(y, 1), round(slot * 0.7, 1), round(h, 1), css, f"{span}: {count} {word}")
                )
        if hour.start.hour % 6 == 0:
            chart.texts.append(Text(round(left + (i + 0.5) * slot, 1), base + 16, f"{hour.start:%H:00}"))
    chart.lines.append(Line(left, base, width - right, base, "axis"))
    chart.texts.append(Text(left + plot_w / 2, height - 8, "Hour finished (UTC)", "axis-title"))
    chart.texts.append(Text(12, top + plot_h / 2, "Jobs", "axis-title", rotate=True))
    return chart


def speed_per_kind(kinds) -> Chart:
    """One horizontal bar per job kind: its median realtime factor over the last 7 days."""
    rows = [(task_label(k.kind), k.speed_median) for k in kinds]
    rows = [(label, speed) for label, speed in rows if speed is not None]
    row_h, left, right, top, bottom, width = 30, 180, 60, 8, 44, 720
    plot_w = width - left - right
    height = top + row_h * max(len(rows), 1) + bottom
    summary = ", ".join(f"{label} {speed_text(speed)}" for label, speed in rows) or "no finished jobs yet"
    chart = Chart("chart speed-chart", width, height, f"Median realtime factor per job kind: {summary}")
    ticks = nice_ticks(max((speed for _, speed in rows), default=0))
    scale = plot_w / ticks[-1]
    base = top + row_h * max(len(rows), 1)
    for value in ticks:
        x = round(left + value * scale, 1)
        chart.lines.append(Line(x, top, x, base, "grid"))
        chart.texts.append(Text(x, base + 16, tick_text(value)))
    for i, (label, speed) in enumerate(rows):
        y = top + i * row_h
        w = round(speed * scale, 1)
        title = f"{label}: {speed_text(speed)} realtime (median)"
        chart.bars.append(Bar(left, y + 5, w, row_h - 10, "bar-speed", title))
        chart.texts.append(Text(left - 8, y + row_h / 2 + 4, label, "bar-label", anchor="end"))
        chart.texts.append(
            Text(left + w + 6, y + row_h / 2 + 4, speed_text(speed), "bar-value", anchor="start")
        )
    chart.lines.append(Line(left, top, left, base, "axis"))
    chart.texts.append(
        Text(left + plot_w / 2, height - 8, "× realtime (seconds of media per second of work)", "axis-title")
    )
    return chart
