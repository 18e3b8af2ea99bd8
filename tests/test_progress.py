"""Task chips as a person watches them: states only move forward, the bar never goes back, and the
time left is shown only once it is steady and then does not jump back and forth."""

import random
import re
from pathlib import Path

from rq import SimpleWorker
from rq.job import Job, JobStatus

import webapp.tasks.progress
from tests.test_uploads import upload
from webapp import db, pipeline
from webapp.helpers import time_left
from webapp.models import Item, Task
from webapp.pipeline import get_queue, redis_conn
from webapp.queues import served
from webapp.tasks.progress import Progress
from webapp.timeleft import SETTLE_SECONDS, TimeLeft

EXAMPLE = Path(__file__).parent / "media" / "example.mp4"
# The order a person expects a task to go through.
ORDER = {"queued": 0, "starting": 1, "running": 2, "done": 3, "failed": 3, "cancelled": 3}


def chip(client, item_id: str, kind: str = "prepare") -> tuple[str, str]:
    """The state and the visible text of one task on the item's polled task list."""
    html = client.get(f"/videos/{item_id}/progress").get_data(as_text=True)
    found = re.search(rf'<li class="task task-(\w+)" data-kind="{kind}">(.*?)</li>', html, re.S)
    text = re.sub(r"<[^>]+>", " ", found.group(2))
    return found.group(1), " ".join(text.split())


def percent(text: str) -> int | None:
    found = re.search(r"(\d+) %", text)
    return int(found.group(1)) if found else None


def assert_forward_only(seen: list[tuple[str, str]]) -> None:
    ranks = [ORDER[state] for state, _ in seen]
    assert ranks == sorted(ranks), f"the chip went back: {seen}"
    percents = [p for _, text in seen if (p := percent(text)) is not None]
    assert percents == sorted(percents), f"the bar went back: {seen}"


class ChipWatch:
    """Reads the chip, as the page shows it, after every progress report of a job run in this process."""

    def __init__(self, monkeypatch, client, item_id: str):
        self.seen = []
        report = Progress.__call__

        def watched(progress, percent, stage):
            report(progress, percent, stage)
            self.seen.append(chip(client, item_id))

        monkeypatch.setattr(Progress, "__call__", watched)


def work_in_process(app) -> None:
    """A real RQ worker in this process, so ChipWatch sees each report as it is made."""
    with app.app_context():
        queues = [get_queue(name) for name in served(["media"])]  # its short lane too, as worker.py
        SimpleWorker(queues, connection=redis_conn()).work(burst=True)


def latest_item_id(app) -> str:
    with app.app_context():
        return db.session.scalar(db.select(Item).order_by(Item.created_at.desc())).id


def test_a_chip_says_starting_until_the_work_reports_its_own_step(app, client, logged_in):
    assert upload(client, EXAMPLE).status_code == 303
    item_id = latest_item_id(app)
    with app.app_context():
        (task,) = db.session.get(Item, item_id).tasks
        job = Job.fetch(task.rq_job_id, connection=redis_conn())
    seen = [chip(client, item_id)]
    assert seen[0] == ("queued", "Preparation 1st in line for processing")

    job.set_status(JobStatus.STARTED)  # a worker took it; its work horse is still starting
    seen.append(chip(client, item_id))
    assert seen[-1] == ("starting", "Preparation starting")
    with app.app_context():
        task = db.session.get(Task, task.id)
        task.status = Task.RUNNING
        db.session.commit()
        app.config["PROGRESS_INTERVAL"] = 0
        report = Progress(job)
        report(0, "Starting")
    seen.append(chip(client, item_id))
    assert seen[-1] == ("starting", "Preparation starting")
    with app.app_context():
        report(40, "Drawing the waveform")
    seen.append(chip(client, item_id))
    assert seen[-1] == ("running", "Preparation Drawing the waveform · 40 % 40 %")
    with app.app_context():
        report(10, "Making the poster")  # a step that counts from zero again
    seen.append(chip(client, item_id))
    assert seen[-1][0] == "running" and percent(seen[-1][1]) == 40
    assert_forward_only(seen)


def test_a_real_preparation_and_a_reused_one_only_move_forward(app, client, logged_in, monkeypatch):
    assert upload(client, EXAMPLE).status_code == 303
    first = ChipWatch(monkeypatch, client, latest_item_id(app))
    work_in_process(app)
    assert_forward_only(first.seen)
    assert first.seen[-1][0] == "done" and "reused" not in first.seen[-1][1]
    assert any(state == "running" for state, _ in first.seen), first.seen

    assert upload(client, EXAMPLE, name="again.mp4").status_code == 303  # the same file: reused
    second = ChipWatch(monkeypatch, client, latest_item_id(app))
    work_in_process(app)
    assert_forward_only(second.seen)
    # It did no work of its own: from "starting" straight to done, never "running" first.
    assert [state for state, _ in second.seen] == ["starting", "done"], second.seen
    assert "reused an earlier result of example.mp4" in second.seen[-1][1]


class FakeClock:
    """Stands in for the `time` module of the worker and the web side: seconds move only when told."""

    def __init__(self):
        self.now = 1_000_000.0

    def time(self) -> float:
        return self.now

    monotonic = time


def test_the_chip_shows_the_workers_time_left_and_runs_it_down_between_reports(
    app, client, logged_in, monkeypatch
):
    assert upload(client, EXAMPLE).status_code == 303
    item_id = latest_item_id(app)
    clock = FakeClock()
    monkeypatch.setattr(webapp.tasks.progress, "time", clock)
    monkeypatch.setattr(pipeline, "time", clock)
    with app.app_context():
        (task,) = db.session.get(Item, item_id).tasks
        task.status = Task.RUNNING
        db.session.commit()
        job = Job.fetch(task.rq_job_id, connection=redis_conn())
        job.set_status(JobStatus.STARTED)
        report = Progress(job)
        # 2 % every 5 s, so 250 s in all: nothing is said of the time left until it has settled.
        for second in range(0, 16, 5):
            clock.now += 5 if second else 0
            report(second * 0.4, "Drawing the waveform")
            if second < SETTLE_SECONDS:
                assert "left" not in chip(client, item_id)[1]
    shown = "Preparation Drawing the waveform · 6 % · {} left 6 %"
    assert chip(client, item_id)[1] == shown.format("about 4 min")  # 235 s
    clock.now += 70  # no report meanwhile: the page runs the worker's clock down
    assert chip(client, item_id)[1] == shown.format("about 3 min")  # 165 s


def bursty_reports(seed: int, window: float) -> list[tuple[float, float]]:
    """(seconds, percent) as a transcription reports them: a model load, then a jump per window of
    speech, each window taking 60–140 % of the usual time."""
    pace = random.Random(seed)
    reports, at, done = [(0.0, 0.0), (8.0, 5.0)], 8.0, 5.0
    while done < 100:
        at += window * pace.uniform(0.6, 1.4)
        done = min(done + 4.75, 100.0)
        reports.append((at, done))
    return reports


def texts_polled_each_second(reports: list[tuple[float, float]]) -> list[str | None]:
    """What the chip says at each second's poll: the clock of the latest report, run down to then."""
    estimate, shown, clock = TimeLeft(), [], None
    pending = iter(reports)
    upcoming = next(pending, None)
    for second in range(int(reports[-1][0])):
        while upcoming is not None and upcoming[0] <= second:
            clock = estimate.update(upcoming[1], upcoming[0])
            upcoming = next(pending, None)
        shown.append(time_left(clock.left(second)) if clock else None)
    return shown


def test_the_time_left_waits_until_steady_and_never_goes_back_and_forth():
    for seed in range(20):
        for window in (3.0, 10.0, 30.0):
            shown = texts_polled_each_second(bursty_reports(seed, window))
            assert shown[: int(SETTLE_SECONDS)] == [None] * int(SETTLE_SECONDS)
            changes = [text for i, text in enumerate(shown) if text is not None and text != shown[i - 1]]
            assert len(changes) == len(set(changes)), f"seed {seed}, window {window} s: {changes}"
            assert changes[-1] == "under a minute left"


def test_the_time_left_follows_a_real_slowdown():
    # Steady for two minutes, then the work goes four times slower: the figure must say so.
    reports = [(float(s), s * 0.5) for s in range(0, 121, 5)]
    reports += [(120.0 + s, 60 + s * 0.125) for s in range(5, 321, 5)]
    shown = texts_polled_each_second(reports)
    assert shown[60] == "about 2 min left"  # 140 s left
    assert shown[200] in ("about 3 min left", "about 4 min left"), shown[200]  # 240 s left
