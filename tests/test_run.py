"""run.py, the laptop supervisor (`make run`): what exits is started again; SIGTERM stops everything."""

import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from urllib.request import urlopen

import redis
from rq import Worker

from tests.helpers import ROOT, wait_until
from webapp.localredis import free_port, redis_answers


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def workers(url: str) -> dict[str, list[int]]:
    """The pids of the living RQ workers, by their queues ("media", ...)."""
    found = {}
    with redis.Redis.from_url(url) as conn:
        for worker in Worker.all(connection=conn):
            if alive(worker.pid):
                found.setdefault(",".join(worker.queue_names()), []).append(worker.pid)
    return {queues: sorted(pids) for queues, pids in found.items()}


def start_run(env: dict, log: Path) -> subprocess.Popen:
    """run.py with `env`, its terminal output in `log`, once it says everything is up."""
    env = {**os.environ, **env, "WEB_CONCURRENCY": "1"}
    with open(log, "wb") as out:
        run = subprocess.Popen([sys.executable, "run.py"], cwd=ROOT, env=env, stdout=out, stderr=out)
    wait_until(lambda: "Cutroom is running at" in log.read_text() or run.poll() is not None, 120, "a start")
    assert run.poll() is None, log.read_text()
    return run


def test_a_killed_worker_is_started_again_and_the_site_keeps_working(own_redis, app_env, tmp_path):
    port = free_port()
    log = tmp_path / "run.log"
    run = start_run({**app_env, "PORT": str(port)}, log)
    try:
        started = workers(own_redis.url)
        # One media worker per core, at least two, each taking short work first; and one for each
        # short lane alone, so short work never waits for long work to end.
        media = max(os.cpu_count(), 2)
        counts = {queues: len(pids) for queues, pids in started.items()}
        assert counts == {
            "media-short,media": media,
            "transcribe-short,transcribe": 1,
            "mail": 1,
            "webhooks": 1,
            "media-short": 1,
            "transcribe-short": 1,
        }
        each = "transcribe, mail, webhooks, media-short, transcribe-short"
        said = f"Workers:  {media} for media, one each for {each}"
        assert said in log.read_text()

        victim = started["media-short,media"][0]
        os.kill(victim, signal.SIGKILL)
        wait_until(
            lambda: victim not in (now := workers(own_redis.url)["media-short,media"]) and len(now) == media,
            30,
            "a new media worker",
            step=0.5,
        )
        assert run.poll() is None
        said = r"worker \(media \d\) exited unexpectedly \(signal SIGKILL\); starting it again in 1 s\."
        assert re.search(said, log.read_text())
        with urlopen(f"http://127.0.0.1:{port}/login", timeout=10) as response:
            assert response.status == 200
        assert workers(own_redis.url).keys() == started.keys()
    finally:
        run.send_signal(signal.SIGTERM)
        code = run.wait(60)
    assert code == 0, log.read_text()
    assert not workers(own_redis.url), log.read_text()  # every one stopped with it


def test_the_redis_it_started_is_started_again_and_the_workers_carry_on(app_env, tmp_path):
    port, url = free_port(), f"redis://127.0.0.1:{free_port()}/0"
    env = {**app_env, "PORT": str(port), "REDIS_URL": url, "INSTANCE_PATH": str(tmp_path / "instance")}
    log = tmp_path / "run.log"
    run = start_run(env, log)
    try:
        assert (tmp_path / "instance" / "redis" / "redis.log").exists()  # not in the project's instance/
        started = workers(url)
        redis_pid = int(re.search(r"Redis: started \S+ \(pid (\d+)\)", log.read_text())[1])
        os.kill(redis_pid, signal.SIGKILL)
        wait_until(lambda: "Redis: started again" in log.read_text(), 30, "Redis to be started again")
        assert "redis exited unexpectedly (signal SIGKILL); starting it again in 1 s." in log.read_text()
        wait_until(lambda: workers(url) == started, 30, "the same workers, reconnected", step=0.5)
        with urlopen(f"http://127.0.0.1:{port}/login", timeout=10) as response:
            assert response.status == 200
    finally:
        run.send_signal(signal.SIGTERM)
        code = run.wait(60)
    assert code == 0, log.read_text()
    assert not redis_answers(url)  # stopped with the rest
    assert not [pid for pids in started.values() for pid in pids if alive(pid)]


def test_media_workers_is_a_setting_and_a_wrong_value_is_refused(app_env, tmp_path):
    env = {**os.environ, **app_env, "MEDIA_WORKERS": "many", "INSTANCE_PATH": str(tmp_path / "instance")}
    command = [sys.executable, "run.py"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "Cannot use MEDIA_WORKERS='many': expected a whole number of 1 or more." in done.stderr

    port, log = free_port(), tmp_path / "run.log"
    run = start_run({**app_env, "PORT": str(port), "MEDIA_WORKERS": "3"}, log)
    try:
        assert len(workers(app_env["REDIS_URL"])["media-short,media"]) == 3
    finally:
        run.send_signal(signal.SIGTERM)
        assert run.wait(60) == 0, log.read_text()
