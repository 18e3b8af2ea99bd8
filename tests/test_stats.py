"""The stats page: figures computed from rows made here, live queue state in Redis, caching, admin detail."""

import re
from datetime import timedelta

import pytest
from rq import Worker
from sqlalchemy import event

from tests.helpers import Auth, make_user
from webapp import db
from webapp.models import Item, MediaFile, Task, User, utcnow
from webapp.pipeline import get_queue, redis_conn
from webapp.stats.charts import nice_ticks
from webapp.stats.figures import SERVICE_KEY, compute_service_figures, percentile


def add_item(user_id: int, duration: float, sizes=(), title="talk.mp4") -> Item:
    item = Item(user_id=user_id, title=title, duration=duration, kind="video")
    db.session.add(item)
    for i, size in enumerate(sizes):
        item.files.append(MediaFile(role="original", name=f"f{i}.mp4", size=size))
    return item


def add_task(item: Item, kind: str, status: str, finished_ago: timedelta | None = None, **fields) -> Task:
    now = utcnow()
    finished = now - finished_ago if finished_ago is not None else None
    task = Task(
        item=item,
        kind=kind,
        queue="transcribe" if kind == "transcribe" else "media",
        status=status,
        started_at=finished,
        finished_at=finished,
        **fields,
    )
    db.session.add(task)
    return task


def user_id(app, email="ada@example.com") -> int:
    with app.app_context():
        return db.session.scalar(db.select(User.id).filter_by(email=email))


def table_row(html: str, element_id: str) -> str:
    start = html.index(f'id="{element_id}"')
    return html[start : html.index("</tr>", start)]


def cell(row: str, css: str) -> str:
    return re.search(rf'<td class="{css}">(.*?)</td>', row, re.S).group(1).strip()


def test_percentile_interpolates_like_numpy():
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == pytest.approx(50.5)
    assert percentile(values, 0.95) == pytest.approx(95.05)
    assert percentile([7.0], 0.95) == 7.0
    assert percentile([], 0.5) is None
    assert nice_ticks(7, whole=True) == [0, 2, 4, 6, 8]
    assert nice_ticks(0, whole=True) == [0, 1]


def test_stats_needs_a_login(client):
    response = client.get("/stats")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_nav_links_to_stats(client, logged_in):
    assert 'href="/stats"' in client.get("/videos").get_data(as_text=True)


@pytest.fixture
def history(app, user):
    """Silence jobs waiting 1..100 s, running 2..40 s; a few transcriptions; failures; old rows."""
    with app.app_context():
        item = add_item(user.id, duration=1800, sizes=[1_000_000, 500_000])
        for n in range(1, 101):
            # Spread over the last 3 days: the oldest ones are outside the 24 h counts.
            add_task(item, "silence", Task.FAILED, timedelta(hours=n * 0.45), wait_seconds=float(n))
        for n in range(1, 21):
            add_task(
                item,
                "silence",
                Task.DONE,
                timedelta(hours=2, minutes=n),
                run_seconds=2.0 * n,
                realtime_factor=float(n),
                result={"removed_seconds": 90.0},
            )
        other = add_item(user.id, duration=5400, sizes=[2_500_000])
        first = add_task(
            other, "transcribe", Task.DONE, timedelta(hours=1), run_seconds=540.0, realtime_factor=10.0
        )
        db.session.flush()
        # A reused result: counted as done and reused, but it processed nothing.
        add_task(
            other, "transcribe", Task.DONE, timedelta(minutes=30), run_seconds=0.01, reused_from=first.id
        )
        add_task(
            item,
            "silence",
            Task.DONE,
            timedelta(minutes=20),
            run_seconds=0.01,
            reused_from=1,
            result={"removed_seconds": 90.0},
        )
        # Too old for timings and counts, but media processed counts it.
        add_task(other, "prepare", Task.DONE, timedelta(days=9), run_seconds=999.0, realtime_factor=1.0)
        add_task(other, "sync", Task.QUEUED)
        db.session.commit()
        return compute_service_figures()


def test_figures_from_rows(app, history):
    kinds = {k.kind: k for k in history.kinds}
    silence = kinds["silence"]
    assert silence.wait_median == pytest.approx(50.5) and silence.wait_p95 == pytest.approx(95.05)
    assert silence.run_median == pytest.approx(21.0) and silence.run_p95 == pytest.approx(38.1)
    assert silence.speed_median == pytest.approx(10.5)
    # Failed n*0.45 h ago: n = 1..53 fall inside 24 h, all inside 48 h.
    assert silence.done_24h == 21 and silence.failed_24h == 53 and silence.reused_24h == 1
    transcribe = kinds["transcribe"]
    assert transcribe.done_24h == 2 and transcribe.reused_24h == 1 and history.reused_24h == 2
    assert transcribe.speed_median == 10.0 and transcribe.runs == [540.0]
    assert kinds["prepare"].done_24h == 0 and kinds["prepare"].runs == []
    assert silence.media_seconds == 20 * 1800
    assert kinds["prepare"].media_seconds == kinds["transcribe"].media_seconds == 5400
    assert history.silence_removed_seconds == 20 * 90.0
    assert history.storage.files_bytes == 4_000_000
    assert sum(h.done for h in history.hours) == 23  # the 9-day-old one is outside 48 h
    assert sum(h.failed for h in history.hours) == 100


def test_page_shows_the_figures_and_charts(app, client, logged_in, history):
    html = client.get("/stats").get_data(as_text=True)
    row = table_row(html, "kind-silence")
    assert cell(row, "done") == "21" and cell(row, "failed") == "53" and cell(row, "reused") == "1"
    assert cell(row, "wait-median") == "50.5 s" and cell(row, "wait-p95") == "1:35"
    assert cell(row, "run-median") == "21.0 s" and cell(row, "run-p95") == "38.1 s"
    assert cell(row, "speed") == "10.5×" and cell(row, "media") == "10.0 h"
    assert cell(table_row(html, "kind-sync"), "wait-median") == "–"
    assert re.search(r'id="done-24h">23<', html) and re.search(r'id="failed-24h">53<', html)
    assert re.search(r'id="reused-24h">2<', html)
    assert 'id="media-hours">13.0 h<' in html  # 20 × 0.5 h + 1.5 h + 1.5 h
    assert 'id="silence-hours">0.5 h<' in html  # 20 × 90 s
    assert 'id="files-bytes">3.8 MiB<' in html

    jobs_svg = re.search(r'<svg class="chart jobs-chart".*?</svg>', html, re.S).group(0)
    assert 'role="img"' in jobs_svg and "23 done, 100 failed" in jobs_svg
    done_hours = {h.start for h in history.hours if h.done}
    failed_hours = {h.start for h in history.hours if h.failed}
    assert jobs_svg.count('class="bar bar-done"') == len(done_hours)
    assert jobs_svg.count('class="bar bar-failed"') == len(failed_hours)
    assert jobs_svg.count("<title>") == len(done_hours) + len(failed_hours)
    assert "Hour finished (UTC)" in jobs_svg and ">Jobs<" in jobs_svg

    speed_svg = re.search(r'<svg class="chart speed-chart".*?</svg>', html, re.S).group(0)
    assert speed_svg.count('class="bar bar-speed"') == 2  # prepare's only run is too old
    assert "<title>Remove silence: 10.5× realtime (median)</title>" in speed_svg
    assert "style=" not in html and "<script>" not in html


@pytest.fixture
def busy_worker(app):
    """Two jobs waiting on the media queue (one deferred) and a busy worker on media and transcribe."""
    with app.app_context():
        queue = get_queue("media")
        first = queue.enqueue("webapp.tasks.run.run_task", 999_999, job_timeout=60)
        queue.enqueue("webapp.tasks.run.run_task", 999_998, job_timeout=60, depends_on=first)
        worker = Worker(["media", "transcribe"], connection=redis_conn(), name="stats-test-worker")
        worker.register_birth()
        worker.set_state("busy")
    yield worker
    worker.register_death()


def test_queues_show_waiting_deferred_jobs_and_workers(app, client, logged_in, busy_worker):
    with app.app_context():
        db.session.get(User, logged_in.id).is_admin = True
        db.session.commit()
    html = client.get("/stats").get_data(as_text=True)
    media = table_row(html, "queue-media")
    assert cell(media, "length") == "1" and cell(media, "deferred") == "1"
    assert re.fullmatch(r"\d+\.\d s", cell(media, "oldest"))
    assert "stats-test-worker" in media and "1 (1 busy)" in media
    assert f"on {busy_worker.hostname}" in media
    assert "stats-test-worker" in table_row(html, "queue-transcribe")
    mail = table_row(html, "queue-mail")
    assert cell(mail, "length") == "0" and cell(mail, "oldest") == "–" and "none listening" in mail
    assert re.search(r'id="disk-free">[\d.]+ (GiB|MiB)<', html)
    assert re.search(r'id="disk-total">[\d.]+ (GiB|MiB|TiB)<', html)


def test_worker_ids_host_names_and_disk_sizes_are_for_admins_only(app, client, logged_in, busy_worker):
    html = client.get("/stats").get_data(as_text=True)
    media = table_row(html, "queue-media")
    assert "1 (1 busy)" in media  # how many work, for everyone
    assert "stats-test-worker" not in html and f" on {busy_worker.hostname} " not in media
    assert 'id="disk-free"' not in html and 'id="disk-total"' not in html
    assert 'id="files-bytes"' in html


def test_only_admins_see_per_user_detail(app, client, auth, history):
    grace = make_user(app, email="grace@example.com", is_admin=True)
    with app.app_context():
        add_item(grace.id, duration=60, sizes=[123_000])
        db.session.commit()

    auth.login()
    html = client.get("/stats").get_data(as_text=True)
    assert 'id="users"' not in html and "grace@example.com" not in html

    admin = Auth(app, app.test_client())
    admin.login(email="grace@example.com")
    html = admin.client.get("/stats").get_data(as_text=True)
    table = html[html.index('id="users"') :]
    rows = re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td></tr>", table)
    assert rows == [("ada@example.com", "2", "3.8 MiB", "76"), ("grace@example.com", "1", "120 KiB", "0")]


def test_figures_are_cached_for_a_few_seconds(app, client, logged_in, history):
    statements = []

    def record(conn, cursor, statement, *args):
        statements.append(statement.lower())

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        first = client.get("/stats").get_data(as_text=True)
        assert any("from task" in s for s in statements)
        assert redis_conn_exists(app, "cutroom:cache:" + SERVICE_KEY)
        with app.app_context():
            item = db.session.scalar(db.select(Item))
            add_task(item, "silence", Task.DONE, timedelta(minutes=1), run_seconds=1.0)
            db.session.commit()
        statements.clear()
        second = client.get("/stats").get_data(as_text=True)
        assert not [s for s in statements if "from task" in s or "media_file" in s]
        assert re.search(r'id="done-24h">23<', second) and first.count("bar-done") == second.count("bar-done")
    finally:
        event.remove(engine, "before_cursor_execute", record)


def redis_conn_exists(app, key: str) -> bool:
    with app.app_context():
        return bool(redis_conn().exists(key)) and 0 < redis_conn().ttl(key) <= 5
