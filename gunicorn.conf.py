"""Gunicorn settings for Cutroom: production-sane defaults, each overridable by env.

Used by the Procfile (`gunicorn -c gunicorn.conf.py wsgi:app`) and by `make run`
(which passes --bind 127.0.0.1:PORT so a laptop does not listen on the network).
"""

import os

# Where to listen. BIND wins (e.g. "unix:/run/cutroom.sock" behind nginx);
# else every interface on PORT, which is what PaaS platforms expect.
bind = os.environ.get("BIND") or f"0.0.0.0:{os.environ.get('PORT', '8000')}"

# Threads, not the default sync worker: a sync worker handles one request at
# a time and is killed when a request outlasts `timeout`, so a multi-gigabyte
# upload on a slow link would die mid-way and block everyone else meanwhile.
# With gthread the worker's main loop keeps its heartbeat going while a thread
# streams the body, and one slow client ties up a thread, not a process.
# All heavy work runs in RQ workers, so web requests are I/O bound: threads fit.
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Enough for uploads on slow links and pages at once: the app streams at most UPLOAD_SLOTS uploads
# per process (all threads but 8 by default), so the others always remain for pages (bench/load.py).
threads = int(os.environ.get("WEB_THREADS", "32"))

# Seconds a worker may go silent before the arbiter restarts it. With gthread
# this guards against a hung process, not against long requests.
timeout = int(os.environ.get("WEB_TIMEOUT", "120"))
# On SIGTERM (deploy, restart), let in-flight requests finish for this long.
graceful_timeout = int(os.environ.get("WEB_GRACEFUL_TIMEOUT", "30"))
# Keep idle connections open briefly: the library page polls progress every
# few seconds through htmx, and a reverse proxy reuses connections.
keepalive = 5

# Largest request line gunicorn allows (default 4094): long query strings and
# signed confirmation/reset tokens in the path must fit. Headers keep their
# defaults (100 fields, 8190 bytes each).
limit_request_line = 8190

# Trust X-Forwarded-* only from these proxy addresses (comma separated, "*"
# for any). The default trusts a proxy on the same machine; set it to your
# load balancer's address, never "*" when clients can reach gunicorn directly.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

# Access log to stdout, errors to stderr: the process manager collects both.
accesslog = "-"
errorlog = "-"

# Workers touch a heartbeat file every second; on a disk-backed /tmp (some
# containers, network volumes) that can stall and trigger false timeouts.
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"

# Gunicorn 25+ opens a control socket for `gunicornc` at one per-user default
# path ($XDG_RUNTIME_DIR or ~/.gunicorn/gunicorn.ctl), which two instances on
# one machine would fight over. Off unless GUNICORN_CONTROL_SOCKET names a path.
if os.environ.get("GUNICORN_CONTROL_SOCKET"):
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]
else:
    control_socket_disable = True


def on_starting(server):
    """Refuse to start without EXTERNAL_URL: links in mails are built from it, and a server that
    took them from the Host header would mail reset links to whatever site a request names."""
    from urllib.parse import urlsplit

    url = urlsplit(os.environ.get("EXTERNAL_URL", "").strip())
    if url.scheme not in ("http", "https") or not url.netloc:
        raise RuntimeError(
            "EXTERNAL_URL is not set (or is not an http:// or https:// URL). Set it to the address "
            "people use to reach Cutroom, e.g. EXTERNAL_URL=https://cutroom.example.org"
        )


def pre_request(worker, req):
    """Give the app gunicorn's switch to close this connection after the response.

    WSGI has no way for an app to say so, and gunicorn drops a `Connection` header that an app
    sets; an app that answers without reading the whole body needs it (webapp/requestbody.py).
    """
    worker.log.debug("%s %s", req.method, req.path)  # what gunicorn's default hook does
    if req.body is not None:
        req.body.close_connection = req.force_close
