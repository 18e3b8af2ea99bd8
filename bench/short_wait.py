"""Bench how long a short upload waits behind a long one, with one media worker and with several.

    python bench/short_wait.py [--minutes 5] [--short 11] [--workers 1,2]

For each worker count: a private Redis, a fresh SQLite database and media folder, that many real
media workers (worker.py media, as `make run` starts them); then, as one person would, a long
recording (a 1280×720 "talk", cached in bench/.cache/ by bench/silence.py) is uploaded with
"Remove silence", and right after it a short clip with "Remove silence" too. Prints, for the
short clip, how long its preparation waited before a worker took it and how long after its upload
both its jobs were done; and when the long one was done. Ratios are against one worker.
"""

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# First: it puts the repository on sys.path, for `webapp` and `tests`.
from common import CACHE, OUR_PYTHON, ROOT, cached, print_table
from silence import talk_video

from tests.helpers import Auth, csrf_from, make_user
from tests.media import make_video
from webapp.localredis import free_port, start_redis, stop


def upload(client, path: Path) -> None:
    token = csrf_from(client.get("/videos/new"))
    with open(path, "rb") as media:
        data = {"csrf_token": token, "media": (media, path.name), "silence": "y"}
        response = client.post("/videos/new", data=data, content_type="multipart/form-data")
    response.request.input_stream.close()
    assert response.status_code == 303, response.get_data(as_text=True)


def one_round(long: Path, short: Path, workers: int, redis_url: str) -> dict:
    """Both uploads with `workers` media workers; the figures of the short and the long item."""
    from webapp import create_app, db
    from webapp.models import Item

    folder = Path(tempfile.mkdtemp(prefix="short-wait-"))
    env = {
        "SECRET_KEY": "bench",
        "DATABASE_URL": f"sqlite:///{folder / 'bench.db'}",
        "REDIS_URL": redis_url,
        "MEDIA_ROOT": str(folder / "media"),
        "INSTANCE_PATH": str(folder / "instance"),
    }
    os.environ.update(env)
    app = create_app()
    with app.app_context():
        db.create_all()
        from webapp.pipeline import redis_conn

        redis_conn().flushdb()
    make_user(app, email="bench@example.com")
    client = app.test_client()
    Auth(app, client).login(email="bench@example.com")

    command = [str(OUR_PYTHON), "worker.py", "media"]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    procs = [subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env}, **quiet) for _ in range(workers)]
    try:
        time.sleep(3)  # the workers are listening, as on a running server
        upload(client, long)
        upload(client, short)
        while True:
            with app.app_context():
                items = db.session.scalars(db.select(Item).order_by(Item.created_at)).all()
                if not any(item.busy for item in items):
                    return {"long": _figures(items[0]), "short": _figures(items[1])}
                db.session.remove()
            time.sleep(0.5)
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(60)


def _figures(item) -> dict:
    tasks = {task.kind: task for task in item.tasks}
    assert all(task.status == "done" for task in tasks.values()), {k: t.error for k, t in tasks.items()}
    finished = max(task.finished_at for task in tasks.values())
    return {
        "waited": tasks["prepare"].wait_seconds,
        "done_after": (finished - item.created_at).total_seconds(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5, help="length of the long recording")
    parser.add_argument("--short", type=float, default=11, help="seconds of the short clip")
    parser.add_argument("--workers", default="1,2", help="media worker counts to compare")
    args = parser.parse_args()

    long = talk_video(args.minutes, 2)
    clip = f"clip-{args.short:g}s.mp4"
    [short] = cached(lambda path: make_video(path, seconds=args.short, size="1280x720"), clip)
    port = free_port()
    server = start_redis(port, Path(tempfile.mkdtemp(prefix="short-wait-redis-")))
    results = {}
    try:
        for count in [int(n) for n in args.workers.split(",")]:
            print(f"{count} media worker(s): uploading {long.name} then {short.name} …", flush=True)
            results[count] = one_round(long, short, count, f"redis://127.0.0.1:{port}/0")
    finally:
        stop(server)

    base = results[min(results)]["short"]["waited"]
    rows = []
    for count, figures in results.items():
        short, long_ = figures["short"], figures["long"]
        ratio = f"{short['waited'] / base:.2f}×" if base else "–"
        done = [f"{short['done_after']:.1f}", f"{long_['done_after']:.1f}"]
        rows.append([count, f"{short['waited']:.1f}", ratio, *done])
    print()
    print(f"A {args.short:g} s clip uploaded just after a {args.minutes:g}-minute talk, both to cut pauses.")
    print(f"Machine: {os.cpu_count()} cores. Inputs in {CACHE}.")
    print_table(
        ["media workers", "short waited (s)", "ratio", "short done after (s)", "long done after (s)"],
        rows,
        [13, 16, 6, 19, 18],
        rule=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
