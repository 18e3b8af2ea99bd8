"""run.py, the laptop supervisor (`make run`): what exits is started again; SIGTERM stops everything."""

import os
import signal
import subprocess
import sys
from urllib.request import urlopen

import redis
from rq import Worker

from tests.conftest import ROOT, wait_until
from webapp.localredis import free_port


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def workers(url: str) -> dict[str, int]:
    """The pid of each living RQ worker by its queues ("media", ...)."""
    with redis.Redis.from_url(url) as conn:
        return {",".join(w.queue_names()): w.pid for w in Worker.all(connection=conn) if alive(w.pid)}


def test_a_killed_worker_is_started_again_and_the_site_keeps_working(own_redis, app_env, tmp_path):
    port = free_port()
    env = {**os.environ, **app_env, "PORT": str(port), "WEB_CONCURRENCY": "1"}
    log = tmp_path / "run.log"
    with open(log, "wb") as out:
        run = subprocess.Popen([sys.executable, "run.py"], cwd=ROOT, env=env, stdout=out, stderr=out)
    try:
        wait_until(lambda: "Cutroom is running at" in log.read_text(), 120, "everything to start", step=0.5)
        started = workers(own_redis.url)
        assert set(started) == {"media", "transcribe", "mail"}, started

        os.kill(started["media"], signal.SIGKILL)
        wait_until(
            lambda: workers(own_redis.url).get("media", started["media"]) != started["media"],
            30,
            "a new media worker",
            step=0.5,
        )
        assert run.poll() is None
        said = "worker (media) exited unexpectedly (signal SIGKILL); starting it again in 1 s."
        assert said in log.read_text()
        with urlopen(f"http://127.0.0.1:{port}/login", timeout=10) as response:
            assert response.status == 200
        assert workers(own_redis.url).keys() == started.keys()
    finally:
        run.send_signal(signal.SIGTERM)
        code = run.wait(60)
    assert code == 0, log.read_text()
    assert not workers(own_redis.url), log.read_text()  # every one stopped with it
