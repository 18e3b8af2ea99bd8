"""Webhooks: set up on the account page, sent by a real RQ worker (with its scheduler, for the retries)
to a real receiver on loopback that checks every signature with the `standardwebhooks` package, and
the SSRF guard that keeps them off loopback and private networks unless the operator allows it."""

import json
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from standardwebhooks.webhooks import Webhook as Verifier

from tests.helpers import Auth, csrf_from, make_user, wait_until
from tests.media import make_video
from tests.test_account import delete_account
from tests.test_api import bearer, issue
from tests.test_uploads import upload
from webapp import db, webhooks
from webapp.maintenance import run_maintenance
from webapp.models import Item, Webhook, WebhookDelivery, utcnow
from webapp.storage import item_dir
from webapp.webhooks import delivery as delivery_module
from webapp.webhooks.delivery import OVERDUE, deliver
from webapp.webhooks.events import add
from webapp.webhooks.outbound import Target, post, resolve


@pytest.fixture
def app_env(app_env):
    # Retries a second apart and a one-second timeout, so a day's schedule runs in seconds.
    return {
        **app_env,
        "WEBHOOK_ALLOW_PRIVATE": "1",
        "WEBHOOK_RETRY_DELAYS": "1,1,1",
        "WEBHOOK_TIMEOUT": "1",
    }


class Receiver:
    """An HTTP server on loopback that answers each POST with the next of `answers` (a status code,
    or "slow": answer 200 after 3 s, past the sender's timeout) and keeps what it got, verified."""

    def __init__(self, answers=(), tls: ssl.SSLContext | None = None):
        self.answers = list(answers)
        self.server_names = []  # the names TLS clients asked for (SNI)
        self.secret = None  # the webhook's, to verify signatures with
        self.got = []  # (headers, body, the verified payload or the verification error)
        self.paths = []  # the request targets, as sent
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                try:
                    verified = Verifier(receiver.secret).verify(body, dict(self.headers))
                except Exception as error:
                    verified = error
                receiver.got.append((dict(self.headers), body, verified))
                receiver.paths.append(self.path)
                answer = receiver.answers.pop(0) if receiver.answers else 200
                if answer == "slow":
                    time.sleep(3)
                    answer = 200
                try:
                    self.send_response(answer)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the sender gave up waiting

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}/hooks/cutroom?source=test"
        if tls:
            tls.sni_callback = lambda sock, name, context: self.server_names.append(name)
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout: float = 30):
        wait_until(lambda: len(self.got) >= count, timeout, f"{count} deliveries")
        return self.got

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = []

    def make(*answers, tls=None):
        made.append(Receiver(answers, tls))
        return made[-1]

    yield make
    for server in made:
        server.close()


@pytest.fixture
def webhooks_worker(start):
    """A real worker on the `webhooks` queue, not in burst mode: its scheduler sends the retries."""
    return lambda: start("worker.py", "webhooks")


def add_webhook(client, url, events=("task.finished", "task.failed", "item.ready"), enabled=True):
    data = {"csrf_token": csrf_from(client.get("/account")), "url": url, "events": list(events)}
    if enabled:
        data["enabled"] = "y"
    return client.post("/account/webhooks", data=data)


def the_webhook(app, url=None) -> Webhook:
    with app.app_context():
        query = db.select(Webhook).order_by(Webhook.id.desc())
        hook = db.session.scalar(query.filter_by(url=url) if url else query)
        db.session.expunge(hook)
        return hook


def send_test_event(client, hook_id: int):
    token = csrf_from(client.get("/account"))
    return client.post(f"/account/webhooks/{hook_id}/test", data={"csrf_token": token})


def deliveries_table(client) -> str:
    html = client.get("/account").get_data(as_text=True)
    return html[html.index('id="deliveries"') :]


def test_a_new_webhook_shows_its_secret_and_can_be_changed_and_deleted(app, client, logged_in):
    response = add_webhook(client, "https://192.0.2.10/cutroom", events=["task.failed"])
    assert response.status_code == 303 and response.location.endswith("/account#webhooks")
    hook = the_webhook(app)
    assert re.fullmatch(r"whsec_[A-Za-z0-9+/]{43}=", hook.secret)
    assert Verifier(hook.secret)  # the form the standardwebhooks package takes
    page = client.get("/account").get_data(as_text=True)
    assert "https://192.0.2.10/cutroom" in page and hook.secret in page
    assert "Task failed" in page and "Nothing sent yet" in page

    prefix = f"hook-{hook.id}-"
    data = {
        "csrf_token": csrf_from(client.get("/account")),
        prefix + "url": "https://192.0.2.10/v2",
        prefix + "events": ["item.ready", "task.finished"],
    }
    response = client.post(f"/account/webhooks/{hook.id}", data=data)  # "Enabled" left unticked
    assert response.status_code == 303
    changed = the_webhook(app)
    assert (changed.url, changed.events, changed.enabled) == (
        "https://192.0.2.10/v2",
        ["task.finished", "item.ready"],
        False,
    )
    assert changed.secret == hook.secret

    data[prefix + "events"] = []
    response = client.post(f"/account/webhooks/{hook.id}", data=data)
    assert response.status_code == 400
    assert "Choose at least one event." in response.get_data(as_text=True)

    token = csrf_from(client.get("/account"))
    response = client.post(f"/account/webhooks/{hook.id}/delete", data={"csrf_token": token})
    assert response.status_code == 303
    with app.app_context():
        assert db.session.scalar(db.select(Webhook)) is None
    assert "Webhook https://192.0.2.10/v2 deleted" in client.get("/account").get_data(as_text=True)
    assert "192.0.2.10" not in client.get("/account").get_data(as_text=True)


def test_an_account_has_at_most_ten_webhooks(app, client, logged_in):
    for n in range(10):
        assert add_webhook(client, f"https://192.0.2.10/{n}").status_code == 303
    response = add_webhook(client, "https://192.0.2.10/10")
    assert response.status_code == 400
    assert "An account can have 10 webhooks. Delete one to add another." in response.get_data(as_text=True)
    with app.app_context():
        assert len(db.session.scalars(db.select(Webhook)).all()) == 10


def test_test_events_are_limited_per_webhook(app, client, logged_in):
    """A test is a real request to someone's server made at a click: five a minute, then 429."""
    add_webhook(client, "https://192.0.2.10/ada")
    hook = the_webhook(app)
    for _ in range(webhooks.TESTS.limit):
        assert send_test_event(client, hook.id).status_code == 303
    refused = send_test_event(client, hook.id)
    assert refused.status_code == 429 and 1 <= int(refused.headers["Retry-After"]) <= 60
    assert "sent 5 test events in the last minute" in refused.get_data(as_text=True)
    token = issue(app, "ada@example.com")
    answer = client.post(f"/api/v1/webhooks/{hook.id}/test", headers=bearer(token))
    assert answer.status_code == 429 and "Send another in" in answer.json["detail"]
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(WebhookDelivery.id))) == webhooks.TESTS.limit


def test_changes_to_webhooks_need_the_csrf_token(app, client, logged_in):
    response = client.post("/account/webhooks", data={"url": "https://192.0.2.10/", "events": ["item.ready"]})
    assert response.status_code == 400
    with app.app_context():
        assert db.session.scalar(db.select(Webhook)) is None


def test_retried_after_500s_until_delivered_under_one_id_with_valid_signatures(
    app, client, logged_in, receiver, webhooks_worker
):
    server = receiver(500, 500, 200)
    assert add_webhook(client, server.url).status_code == 303
    hook = the_webhook(app)
    server.secret = hook.secret
    webhooks_worker()
    assert send_test_event(client, hook.id).status_code == 303

    got = server.wait_for(3)
    time.sleep(1.5)  # no fourth attempt after the 200
    assert len(got) == 3
    ids = {headers["webhook-id"] for headers, _, _ in got}
    assert len(ids) == 1 and ids.pop().startswith("msg_")
    for headers, _, verified in got:
        assert isinstance(verified, dict), verified  # the signature checks out
        assert verified["type"] == "webhook.test" and verified["data"]["webhook_id"] == hook.id
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z", verified["timestamp"])
        assert headers["Content-Type"] == "application/json"
        assert headers["Host"] == server.url.split("/")[2]
    assert got[0][1] == got[2][1]  # the same body on every attempt
    assert got[0][0]["webhook-timestamp"] <= got[2][0]["webhook-timestamp"]

    table = deliveries_table(client)
    assert "500, 500, 200" in table and "delivered (3 attempts)" in table
    assert got[0][0]["webhook-id"] in table


def test_a_receiver_that_answers_410_gone_turns_its_webhook_off(
    app, client, logged_in, receiver, webhooks_worker
):
    server = receiver(410)
    add_webhook(client, server.url)
    hook = the_webhook(app)
    server.secret = hook.secret
    webhooks_worker()
    send_test_event(client, hook.id)

    server.wait_for(1)
    wait_until(lambda: not the_webhook(app).enabled, 10, "the webhook turned off")
    time.sleep(1.5)  # no retry
    assert len(server.got) == 1
    page = client.get("/account").get_data(as_text=True)
    assert "410 Gone" in the_webhook(app).disabled_reason
    assert "the receiver answered 410 Gone" in page and '<span class="chip cancelled">off</span>' in page
    assert "410" in deliveries_table(client) and "failed (1 attempt)" in deliveries_table(client)


def test_a_receiver_that_times_out_gets_the_delivery_again(app, client, logged_in, receiver, webhooks_worker):
    server = receiver("slow", 200)
    add_webhook(client, server.url)
    hook = the_webhook(app)
    server.secret = hook.secret
    webhooks_worker()
    send_test_event(client, hook.id)

    got = server.wait_for(2)
    assert got[0][0]["webhook-id"] == got[1][0]["webhook-id"]
    assert all(isinstance(verified, dict) for _, _, verified in got)
    wait_until(lambda: "delivered (2 attempts)" in deliveries_table(client), 10, "the delivery recorded")
    assert "timed out (1 s), 200" in deliveries_table(client)


REFUSED = {
    "http://127.0.0.1:8080/hook": "127.0.0.1 is a loopback address",
    "http://10.1.2.3/hook": "10.1.2.3 is a private address",
    "http://169.254.169.254/latest/meta-data/": "169.254.169.254 is a link-local address",
    "http://[::1]:8080/hook": "::1 is a loopback address",
    "http://[::ffff:127.0.0.1]/hook": "::ffff:127.0.0.1 is a loopback address",
    "http://0.0.0.0/hook": "0.0.0.0 is an unspecified address",
    "http://224.0.0.1/hook": "224.0.0.1 is a multicast address",
    "http://100.64.0.1/hook": "100.64.0.1 is a non-public address",
    "http://localhost:8080/hook": "localhost (127.0.0.1) is a loopback address",
}


@pytest.mark.parametrize("url", REFUSED)
def test_the_ssrf_guard_refuses_non_public_addresses_unless_allowed(app, client, logged_in, url):
    app.config["WEBHOOK_ALLOW_PRIVATE"] = False
    response = add_webhook(client, url)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Cutroom sends webhooks only to public addresses." in page
    assert REFUSED[url] in page
    with app.app_context():
        assert db.session.scalar(db.select(Webhook)) is None

    app.config["WEBHOOK_ALLOW_PRIVATE"] = True
    assert add_webhook(client, url).status_code == 303


def test_the_ssrf_guard_lets_public_addresses_through(app, client, logged_in):
    app.config["WEBHOOK_ALLOW_PRIVATE"] = False
    for url in ("https://8.8.8.8/hook", "http://[2606:4700:4700::1111]:8080/hook"):
        assert add_webhook(client, url).status_code == 303, url


@pytest.mark.parametrize(
    "url, message",
    [
        ("ftp://hooks.example.org/", "Only http:// and https:// URLs can receive webhooks."),
        ("file:///etc/passwd", "Only http:// and https:// URLs can receive webhooks."),
        ("https://user:pw@hooks.example.org/", "Leave the user name and password out of the URL"),
        ("https:///hook", "The URL has no host name."),
        ("http://no-such-host.invalid/hook", "The host name no-such-host.invalid could not be found."),
        ("", "Enter the URL that should receive the webhooks."),
        ("http://192.0.2.10:0/hook", "The port in the URL is not valid."),
        ("http://192.0.2.10/my hook", "The URL has a space or a control character in it"),
    ],
)
def test_urls_that_cannot_take_webhooks_are_refused_with_a_reason(app, client, logged_in, url, message):
    response = add_webhook(client, url)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)


def test_the_connection_goes_to_the_checked_address_without_looking_the_name_up_again(app, receiver):
    server = receiver(200)
    # The name does not resolve at all: a second lookup would fail, instead of reaching the address.
    target = Target(False, "rebound.invalid", server.port, "/hook?x=1", ("127.0.0.1",))
    with app.app_context():
        assert post(target, b"{}", {"Content-Type": "application/json"}, timeout=5) == 200
    headers = server.got[0][0]
    assert headers["Host"] == f"rebound.invalid:{server.port}"


def test_letters_beyond_ascii_in_the_path_go_percent_encoded(app, receiver):
    server = receiver(200)
    with app.app_context():
        target = resolve(f"http://127.0.0.1:{server.port}/hooks/café?name=zoë")
        assert post(target, b"{}", {"Content-Type": "application/json"}, timeout=5) == 200
    assert server.paths == ["/hooks/caf%C3%A9?name=zo%C3%AB"]


def test_a_receiver_that_trickles_its_answer_is_cut_off_and_the_attempt_recorded(app, client, logged_in):
    # Each byte within the one-second read timeout, the whole answer never: a worker held for ever.
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def trickle():
        conn, _ = listener.accept()
        conn.recv(65536)
        for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 1000:
            if stop.wait(0.3):
                break
            conn.send(bytes([byte]))
        conn.close()

    threading.Thread(target=trickle, daemon=True).start()
    add_webhook(client, f"http://127.0.0.1:{listener.getsockname()[1]}/hook")
    hook = the_webhook(app)
    try:
        with app.app_context():
            delivery = add(db.session.get(Webhook, hook.id), "webhook.test", {"slow": True})
            db.session.commit()
            delivery_id = delivery.id
            started = time.monotonic()
            assert deliver(delivery_id, 1).startswith("timed out")
            assert time.monotonic() - started < 5  # twice the timeout, and a little more
            delivery = db.session.get(WebhookDelivery, delivery_id)
            assert delivery.status == WebhookDelivery.PENDING and len(delivery.outcomes) == 1
    finally:
        stop.set()
        listener.close()


def test_an_attempt_that_fails_in_an_unforeseen_way_is_recorded_not_made_again_for_ever(
    app, client, logged_in, monkeypatch
):
    add_webhook(client, "http://127.0.0.1:9/hook")
    hook = the_webhook(app)

    def broken(*args):
        raise UnicodeEncodeError("ascii", "é", 0, 1, "a bug of ours")

    monkeypatch.setattr(delivery_module, "post", broken)
    with app.app_context():
        delivery = add(db.session.get(Webhook, hook.id), "webhook.test", {})
        db.session.commit()
        delivery_id = delivery.id
        for attempt in range(1, 5):
            deliver(delivery_id, attempt)
        delivery = db.session.get(WebhookDelivery, delivery_id)
        assert delivery.outcomes == ["failed (UnicodeEncodeError)"] * 4
        assert delivery.status == WebhookDelivery.FAILED  # 1 + the 3 retries of WEBHOOK_RETRY_DELAYS


def test_a_delivery_whose_last_attempt_was_lost_is_given_up_not_sent_again(app, client, logged_in):
    add_webhook(client, "http://127.0.0.1:9/hook")
    hook = the_webhook(app)
    with app.app_context():
        delivery = add(db.session.get(Webhook, hook.id), "webhook.test", {})
        delivery.attempts = 4  # the last of 1 + 3 retries, its job lost mid-attempt
        delivery.next_try_at = utcnow() - OVERDUE - timedelta(seconds=1)
        db.session.commit()
        delivery_id = delivery.id
        assert run_maintenance()["webhooks"].startswith("0 overdue deliveries queued again")
        delivery = db.session.get(WebhookDelivery, delivery_id)
        assert delivery.status == WebhookDelivery.FAILED and "gave up after 4 attempts" in delivery.error


def test_finished_deliveries_are_forgotten_after_a_month_pending_ones_never(app, client, logged_in):
    add_webhook(client, "http://127.0.0.1:9/hook")
    hook = the_webhook(app)
    with app.app_context():
        webhook = db.session.get(Webhook, hook.id)
        made = {}
        for status, age in (("delivered", 31), ("failed", 31), ("pending", 31), ("delivered", 29)):
            delivery = add(webhook, "webhook.test", {})
            delivery.status, delivery.created_at = status, utcnow() - timedelta(days=age)
            delivery.next_try_at = utcnow() + timedelta(hours=1) if status == "pending" else None
            made[delivery.message_id] = (status, age)
        db.session.commit()
        done = run_maintenance()["webhooks"]
        assert done == "0 overdue deliveries queued again, 2 old deliveries forgotten"
        left = db.session.scalars(db.select(WebhookDelivery.message_id)).all()
        assert sorted(made[message] for message in left) == [("delivered", 29), ("pending", 31)]


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    """A test CA, and a server certificate for "localhost" that it signed (made with openssl)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make test certificates")
    folder = tmp_path_factory.mktemp("tls")

    def openssl(command: str):
        subprocess.run(["openssl", *command.split()], cwd=folder, check=True, capture_output=True)

    openssl("req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=cutroom-test-ca")
    openssl("req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost")
    (folder / "san.cnf").write_text("subjectAltName=DNS:localhost\n")
    openssl(
        "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 "
        "-extfile san.cnf"
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "server.pem", folder / "server.key")
    return folder / "ca.pem", context


def test_https_to_the_checked_address_names_the_host_for_sni_and_the_certificate(
    app, receiver, certificates, monkeypatch
):
    ca, server_context = certificates
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))  # the test CA is the one trusted
    server = receiver(200, tls=server_context)
    target = Target(True, "localhost", server.port, "/hook", ("127.0.0.1",))
    with app.app_context():
        assert post(target, b"{}", {}, timeout=5) == 200
        assert server.server_names == ["localhost"]
        assert server.got[0][0]["Host"] == f"localhost:{server.port}"
        # The same address under a name its certificate does not carry is refused.
        with pytest.raises(ssl.SSLCertVerificationError):
            post(Target(True, "cutroom.invalid", server.port, "/hook", ("127.0.0.1",)), b"{}", {}, timeout=5)
    assert len(server.got) == 1


def test_the_guard_checks_the_address_again_at_delivery_time(
    app_env, app, client, logged_in, receiver, webhooks_worker
):
    server = receiver(200)
    add_webhook(client, server.url.replace("127.0.0.1", "localhost"))  # allowed when it was saved
    hook = the_webhook(app)
    app_env["WEBHOOK_ALLOW_PRIVATE"] = "0"  # the worker runs with the guard on
    webhooks_worker()
    send_test_event(client, hook.id)

    refused = "refused: localhost (127.0.0.1) is a loopback address"
    wait_until(lambda: refused in deliveries_table(client), 20, "the attempt refused")
    assert server.got == []


def test_a_job_finishing_on_a_real_worker_sends_task_finished_and_item_ready(
    app, client, logged_in, tmp_path, receiver, run_worker, webhooks_worker
):
    server = receiver()
    add_webhook(client, server.url)
    server.secret = the_webhook(app).secret
    video = tmp_path / "talk.mp4"
    make_video(video, seconds=2)
    assert upload(client, video).status_code == 303
    run_worker("media")  # the preparation
    webhooks_worker()

    got = server.wait_for(2)
    time.sleep(1)  # and no more
    assert len(got) == 2
    events = {verified["type"]: verified["data"] for _, _, verified in got}
    assert set(events) == {"task.finished", "item.ready"}
    with app.app_context():
        item = db.session.scalar(db.select(Item))
        task = item.tasks[0]
        poster = item.file("poster").name
        item_id, task_id, result = item.id, task.id, task.result
    finished = events["task.finished"]
    assert finished["item_id"] == item_id and finished["item_title"] == "talk.mp4"
    assert (finished["task_id"], finished["task_kind"], finished["status"]) == (task_id, "prepare", "done")
    assert finished["result"] == json.loads(json.dumps(result))
    assert finished["links"]["item"] == f"http://localhost/videos/{item_id}"
    assert finished["links"]["files"]["poster"] == f"http://localhost/videos/{item_id}/files/{poster}"
    ready = events["item.ready"]
    assert ready["status"] == "ready" and ready["tasks"] == [
        {"id": task_id, "kind": "prepare", "status": "done"}
    ]
    assert "original" in ready["links"]["files"]


def test_a_failed_job_sends_task_failed_with_the_reason(
    app, client, logged_in, tmp_path, receiver, run_worker, webhooks_worker
):
    server = receiver()
    add_webhook(client, server.url, events=["task.failed", "item.ready"])
    server.secret = the_webhook(app).secret
    video = tmp_path / "talk.mp4"
    make_video(video, seconds=2)
    assert upload(client, video).status_code == 303
    with app.app_context():
        item = db.session.scalar(db.select(Item))
        (item_dir(item) / item.file("original").name).write_bytes(b"no longer a video")
    run_worker("media")
    webhooks_worker()

    got = server.wait_for(1)
    time.sleep(1)  # no item.ready: not every task is done
    assert len(got) == 1
    payload = got[0][2]
    assert payload["type"] == "task.failed"
    with app.app_context():
        error = db.session.scalar(db.select(Item)).tasks[0].error
    assert payload["data"]["status"] == "failed" and payload["data"]["error"] == error


def test_a_delivery_whose_job_was_lost_is_sent_by_maintenance(
    app, client, logged_in, receiver, webhooks_worker
):
    server = receiver()
    add_webhook(client, server.url)
    hook = the_webhook(app)
    server.secret = hook.secret
    webhooks_worker()
    with app.app_context():
        # Recorded with its task's end, but never queued (Redis was emptied, say).
        delivery = add(db.session.get(Webhook, hook.id), "webhook.test", {"lost": True})
        delivery.next_try_at = utcnow() - OVERDUE - timedelta(seconds=1)
        db.session.commit()
        assert run_maintenance()["webhooks"].startswith("1 overdue delivery queued again")
    got = server.wait_for(1)
    assert got[0][2]["data"] == {"lost": True}
    wait_until(lambda: "delivered (1 attempt)" in deliveries_table(client), 10, "the delivery recorded")


def test_another_users_webhooks_are_not_found(app, client, logged_in):
    add_webhook(client, "https://192.0.2.10/ada")
    hook = the_webhook(app)
    make_user(app, email="bob@example.com")
    other = app.test_client()
    Auth(app, other).login(email="bob@example.com")
    page = other.get("/account").get_data(as_text=True)
    assert "192.0.2.10" not in page and hook.secret not in page
    token = csrf_from(other.get("/account"))
    data = {
        "csrf_token": token,
        f"hook-{hook.id}-url": "https://evil.example.org/",
        f"hook-{hook.id}-events": ["item.ready"],
    }
    for path in (
        f"/account/webhooks/{hook.id}",
        f"/account/webhooks/{hook.id}/test",
        f"/account/webhooks/{hook.id}/delete",
    ):
        assert other.post(path, data=data).status_code == 404, path
    assert other.post("/account/webhooks/999999/delete", data=data).status_code == 404
    same = the_webhook(app)
    assert (same.url, same.enabled) == ("https://192.0.2.10/ada", True)
    with app.app_context():
        assert db.session.scalar(db.select(WebhookDelivery)) is None


def test_deleting_the_account_deletes_its_webhooks_and_their_log(app, client, logged_in):
    add_webhook(client, "https://192.0.2.10/ada")
    with app.app_context():
        add(db.session.get(Webhook, the_webhook(app).id), "webhook.test", {})
        db.session.commit()
    assert delete_account(client).status_code == 303
    with app.app_context():
        assert db.session.scalar(db.select(Webhook)) is None
        assert db.session.scalar(db.select(WebhookDelivery)) is None
