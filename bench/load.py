"""Bench the web server on loopback: progress polling, page loads and uploads, alone and under slowloris.

    python bench/load.py [--pollers 100] [--users 20] [--uploads 10] [--slowloris 20] [--rounds 20]

Starts a private Redis and gunicorn with gunicorn.conf.py (as the Procfile does; WEB_CONCURRENCY,
WEB_THREADS and the app's variables pass through) on 127.0.0.1, with a fresh SQLite database and
media folder, and no RQ worker, so uploaded items stay queued and their progress keeps being polled.
Clients are threads here, each on its own keep-alive connection, like browser tabs. Slowloris
sockets send the head of an upload and a few body bytes, then stall: anonymous ones (no session),
logged-in ones, and ones that stall inside their request headers. Prints p50/p99 of each phase in
milliseconds, and how many requests failed or took longer than the client's 30 s timeout.
"""

import argparse
import http.client
import os
import random
import re
import socket
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

# First: it puts the repository on sys.path, for `webapp` and `tests`.
from common import OUR_PYTHON, ROOT, print_table

from tests.media import make_audio
from webapp.localredis import free_port, start_redis, stop

PASSWORD = "load bench password"
TIMEOUT = 30.0


class Client:
    """One keep-alive connection with a session cookie, timing each request."""

    def __init__(self, port: int, cookie: str = ""):
        self.port, self.cookie, self.conn = port, cookie, None

    def request(self, method: str, path: str, body=None, headers=None) -> tuple[int, bytes, float]:
        headers = {"Cookie": self.cookie, **(headers or {})} if self.cookie else dict(headers or {})
        started = time.monotonic()
        for attempt in (1, 2):  # a kept-alive connection the server closed meanwhile: reconnect once
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT)
            try:
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                data = response.read()
                break
            except (ConnectionError, http.client.RemoteDisconnected, http.client.BadStatusLine):
                self.conn.close()
                self.conn = None
                if attempt == 2 or body is not None:
                    raise
        if response.getheader("Connection", "").lower() == "close":
            self.conn.close()
            self.conn = None
        for header in response.headers.get_all("Set-Cookie") or []:
            pair = header.split(";", 1)[0]
            name = pair.split("=", 1)[0]
            cookies = [c for c in self.cookie.split("; ") if c and not c.startswith(name + "=")]
            self.cookie = "; ".join([*cookies, pair])
        return response.status, data, time.monotonic() - started

    def token(self, path: str) -> str:
        _, page, _ = self.request("GET", path)
        return re.search(rb'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page).group(1).decode()

    def login(self, email: str) -> None:
        token = self.token("/login")
        body = f"email={email}&password={PASSWORD.replace(' ', '+')}&csrf_token={token}"
        status, _, _ = self.request(
            "POST", "/login", body, {"Content-Type": "application/x-www-form-urlencoded"}
        )
        assert status == 302, f"login of {email} answered {status}"

    def upload(self, media: Path) -> tuple[int, float]:
        """Open the upload page and send the file: its status, and the seconds both took."""
        started = time.monotonic()
        token = self.token("/videos/new")
        body, content_type = multipart(token, media.name, media.read_bytes())
        status, _, _ = self.request("POST", "/videos/new", body, {"Content-Type": content_type})
        return status, time.monotonic() - started


def multipart(token: str, filename: str, content: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="media"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    return head + content + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def slowloris(port: int, count: int, cookie: str = "", in_headers: bool = False) -> list[socket.socket]:
    """Sockets that start an upload of 100 MB and stall after a few bytes (or inside the headers)."""
    socks = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port))
        head = (
            "POST /videos/new HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            + (f"Cookie: {cookie}\r\n" if cookie else "")
            + "Content-Type: multipart/form-data; boundary=x\r\n"
        )
        if in_headers:
            sock.sendall(head.encode())
        else:
            sock.sendall(f"{head}Content-Length: 100000000\r\n\r\n--x\r\nContent-Dis".encode())
        socks.append(sock)
    return socks


def run_clients(clients: list[Client], rounds: int, work, every: float | None) -> dict:
    """Each client runs `work(client)` `rounds` times, all at once; latencies and failures.

    With `every`, each client starts a round every that many seconds (from a random offset, as
    browser tabs opened at different moments), else right after the one before.
    """
    times, failures, lock = [], [], threading.Lock()
    start = threading.Barrier(len(clients))

    def loop(client):
        start.wait()
        began = time.monotonic() + random.uniform(0, every or 0)
        for n in range(rounds):
            if every:
                time.sleep(max(0.0, began + n * every - time.monotonic()))
            try:
                status, seconds = work(client)
                ok = status < 400
            except (OSError, http.client.HTTPException) as error:
                status, seconds, ok = type(error).__name__, TIMEOUT, False
            with lock:
                times.append(seconds)
                if not ok:
                    failures.append(status)

    threads = [threading.Thread(target=loop, args=(client,)) for client in clients]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"times": sorted(times), "failures": failures, "seconds": time.monotonic() - started}


def percentile(sorted_times: list[float], p: float) -> float:
    index = min(len(sorted_times) - 1, max(0, round(p / 100 * len(sorted_times) + 0.5) - 1))
    return sorted_times[index] * 1000


def get(path: str):
    def work(client):
        status, _, seconds = client.request("GET", path)
        return status, seconds

    return work


def start_server(env: dict, folder: Path) -> tuple:
    import subprocess

    subprocess.run(
        [str(OUR_PYTHON), "-m", "flask", "--app", "wsgi", "db-ready"],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    port = int(env["PORT"])
    log = open(folder / "gunicorn.log", "wb")  # noqa: SIM115 - closed with the server
    server = subprocess.Popen(
        [str(OUR_PYTHON), "-m", "gunicorn", "-c", "gunicorn.conf.py", "-b", f"127.0.0.1:{port}", "wsgi:app"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return server, log
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError(f"gunicorn did not start; see {folder / 'gunicorn.log'}") from None
            time.sleep(0.2)


def make_users(env: dict, count: int) -> list[str]:
    os.environ.update(env)
    from webapp import create_app, db
    from webapp.models import User, utcnow

    app = create_app()
    emails = [f"user{n}@example.com" for n in range(count)]
    with app.app_context():
        for email in emails:
            user = User(email=email, confirmed_at=utcnow())
            user.set_password(PASSWORD)
            db.session.add(user)
        db.session.commit()
        db.engine.dispose()
    return emails


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pollers", type=int, default=100, help="concurrent progress pollers")
    parser.add_argument("--users", type=int, default=20, help="concurrent users loading pages")
    parser.add_argument("--uploads", type=int, default=10, help="concurrent uploads")
    parser.add_argument("--slowloris", type=int, default=20, help="stalled sockets of each kind")
    parser.add_argument("--rounds", type=int, default=10, help="requests per poller or user, one a second")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="cutroom-load-"))
    print(f"server files and log: {folder}", file=sys.stderr)
    redis_port, port = free_port(), free_port()
    redis = start_redis(redis_port, folder / "redis")
    env = {
        **os.environ,
        "SECRET_KEY": "load-bench",
        "DATABASE_URL": f"sqlite:///{folder / 'cutroom.db'}",
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "MEDIA_ROOT": str(folder / "media"),
        "PORT": str(port),
        "FLASK_DEBUG": "0",
    }
    server = log = None
    try:
        server, log = start_server(env, folder)
        emails = make_users(env, max(args.users, args.uploads) + 1)
        media = make_audio(folder / "tone.wav", seconds=2)
        owner = Client(port)
        owner.login(emails[0])
        assert owner.upload(media)[0] == 303
        _, page, _ = owner.request("GET", "/videos")
        links = re.findall(rb'href="/videos/([A-Za-z0-9_-]+)"', page)
        item = next(link.decode() for link in links if link not in (b"new", b"live"))
        progress = get(f"/videos/{item}/progress")
        users = []
        for email in emails[1 : args.users + 1]:
            client = Client(port)
            client.login(email)
            users.append(client)
        uploaders = []
        for email in emails[1 : args.uploads + 1]:
            client = Client(port)
            client.login(email)
            uploaders.append(client)

        def upload(client):
            return client.upload(media)

        def pages(client):
            status, seconds = 0, 0.0
            for path in ("/videos", "/account", "/login"):
                code, _, took = client.request("GET", path)
                status, seconds = max(status, code), seconds + took
            return status, seconds / 3

        # (name, clients, make the clients, work, rounds, seconds between rounds, stalled sockets):
        # pollers and users ask once a second (htmx polls every 1 s); uploads go back to back.
        pollers = args.pollers
        phases = [
            (
                "progress polling",
                pollers,
                lambda: [Client(port, owner.cookie) for _ in range(pollers)],
                progress,
                args.rounds,
                1.0,
                None,
            ),
            ("page loads", args.users, lambda: users, pages, args.rounds, 1.0, None),
            ("uploads", args.uploads, lambda: uploaders, upload, 2, None, None),
        ]
        stalls = [
            ("anonymous upload bodies", {}),
            ("logged-in upload bodies", {"cookie": owner.cookie}),
            ("request headers", {"in_headers": True}),
        ]
        for what, kwargs in stalls:
            phases += [
                (
                    f"/login, {args.slowloris} stalled {what}",
                    args.users,
                    lambda: [Client(port) for _ in range(args.users)],
                    get("/login"),
                    args.rounds,
                    1.0,
                    kwargs,
                ),
                (
                    f"uploads, {args.slowloris} stalled {what}",
                    args.uploads,
                    lambda: uploaders,
                    upload,
                    2,
                    None,
                    kwargs,
                ),
            ]
        rows = []
        for name, clients, make_clients, work, rounds, every, stall in phases:
            held = slowloris(port, args.slowloris, **stall) if stall is not None else []
            time.sleep(0.5 if held else 0)
            result = run_clients(make_clients(), rounds, work, every)
            for sock in held:
                sock.close()
            times = result["times"]
            rows.append(
                (
                    name,
                    clients,
                    len(times),
                    f"{percentile(times, 50):.0f}",
                    f"{percentile(times, 99):.0f}",
                    len(result["failures"]),
                    f"{result['seconds']:.1f}",
                )
            )
            print(f"  {name}: done {sorted(set(map(str, result['failures'])))}", file=sys.stderr, flush=True)
        workers, threads = env.get("WEB_CONCURRENCY", "2"), env.get("WEB_THREADS", "32 (default)")
        print(f"\ngunicorn: {workers} workers x {threads} threads, 127.0.0.1; times in ms\n")
        print_table(
            ("phase", "clients", "requests", "p50", "p99", "failed", "wall s"),
            rows,
            (48, 7, 8, 7, 7, 6, 6),
            rule=True,
        )
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)
            log.close()
        stop(redis)
    return 0


if __name__ == "__main__":
    sys.exit(main())
