"""The JSON API: personal access tokens (made on /account and by `flask tokens create`, scoped,
revoked, expiring, rate limited), problem details, one user's items hidden from another, an upload
run to done by a real worker, the edit with If-Match, and schemathesis over the whole OpenAPI
document against the app served over HTTP."""

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.generation.modes import GenerationMode

from tests.helpers import csrf_from, make_user
from tests.media import make_text_file, make_video
from tests.test_postgres import on_postgresql
from webapp import db, webhooks
from webapp.api.auth import NO_TOKEN, READ_ONLY, UNKNOWN
from webapp.models import ApiToken, Item, MediaFile, Task, User, Webhook, utcnow
from webapp.storage import item_dir
from webapp.videos.forms import SYNC_NEEDS_EXTERNAL
from webapp.videos.routes import BUSY

PROBLEM = "application/problem+json"
EXAMPLES = 15  # per operation: the whole run stays well under a minute
ALL_HEALTH_CHECKS = list(HealthCheck)
# A tus PATCH's body is raw bytes, sent as schemathesis sends application/octet-stream.
schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")


def issue(app, email: str, scope: str = "write", expires_days: int | None = None) -> str:
    with app.app_context():
        user = db.session.scalar(db.select(User).filter_by(email=email))
        token = ApiToken.issue(user, "test", scope, expires_days)
        db.session.commit()
        return token.token


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def make_item(app, user_id: int, item_id: str | None = None, status: str = Task.DONE) -> str:
    """An item as preparation leaves it (a 16-byte original, its length known), with no worker run."""
    with app.app_context():
        item = Item(id=item_id, user_id=user_id, title="talk.mp4", kind="video", duration=10.0)
        item.info = {"duration": 10.0, "video": {"codec": "h264", "fps": 25}, "audio": None}
        db.session.add(item)
        db.session.flush()
        folder = item_dir(item)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "original.mp4").write_bytes(b"\0" * 16)
        item.files.append(MediaFile(role="original", name="original.mp4", size=16))
        item.tasks.append(Task(kind="prepare", queue="media", status=Task.DONE, result={}))
        if status != Task.DONE:
            item.tasks.append(Task(kind="silence", queue="media", status=status, error="It broke."))
        db.session.commit()
        return item.id


def assert_problem(response, status: int, detail: str | None = None) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.json
    assert body["status"] == status and body["title"] and body["type"] == "about:blank"
    if detail is not None:
        assert detail in body["detail"], body
    return body


@pytest.fixture
def ada(app):
    return make_user(app, "ada@example.com")


def test_a_token_made_on_the_account_page_is_shown_once_works_and_is_revoked(app, client, auth, ada):
    auth.login()
    page = client.get("/account")
    made = client.post(
        "/account/tokens",
        data={"csrf_token": csrf_from(page), "name": "backup script", "scope": "write", "expires_days": ""},
    )
    assert made.status_code == 201
    assert made.headers["Cache-Control"] == "no-store"  # the token, shown this once, is not kept
    html = made.get_data(as_text=True)
    start = html.index('<code class="token">') + len('<code class="token">')
    token = html[start : html.index("</code>", start)]
    assert token.startswith("crt_") and len(token) > 40
    assert "shown only this once" in html

    with app.app_context():  # only its hash is stored
        stored = db.session.scalar(db.select(ApiToken))
        assert stored.token_hash != token and token not in stored.token_hash
    again = client.get("/account").get_data(as_text=True)
    assert token not in again and "backup script" in again and "write" in again

    used = client.get("/api/v1/account", headers=bearer(token))
    assert used.status_code == 200 and used.json["email"] == "ada@example.com"
    listed = client.get("/account").get_data(as_text=True)
    row = listed[listed.index("backup script") : listed.index("</tr>", listed.index("backup script"))]
    assert "never" in row  # it expires never, and was last used just now
    assert row.count("<time") == 2

    with app.app_context():
        token_id = db.session.scalar(db.select(ApiToken.id))
    # Revoking is a POST with the page's CSRF token; without it nothing changes.
    assert client.post(f"/account/tokens/{token_id}/revoke").status_code == 400
    assert client.get("/api/v1/account", headers=bearer(token)).status_code == 200
    revoked = client.post(f"/account/tokens/{token_id}/revoke", data={"csrf_token": csrf_from(page)})
    assert revoked.status_code == 303
    refused = client.get("/api/v1/account", headers=bearer(token))
    assert_problem(refused, 401, UNKNOWN)
    assert refused.headers["WWW-Authenticate"].startswith("Bearer ")
    assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"]
    after = client.get("/account").get_data(as_text=True)
    assert "The token “backup script” is revoked" in after and 'class="tokens"' not in after


def test_another_accounts_token_cannot_be_revoked(app, client, auth, ada):
    make_user(app, "bob@example.com")
    bobs = issue(app, "bob@example.com")
    with app.app_context():
        token_id = db.session.scalar(db.select(ApiToken.id))
    auth.login()
    response = client.post(f"/account/tokens/{token_id}/revoke", data={"csrf_token": auth.csrf("/account")})
    assert response.status_code == 404
    assert client.get("/api/v1/account", headers=bearer(bobs)).status_code == 200


def test_a_bad_token_form_says_what_to_fix(client, auth, ada):
    auth.login()
    response = client.post(
        "/account/tokens", data={"csrf_token": auth.csrf("/account"), "name": " ", "scope": "write"}
    )
    assert response.status_code == 400
    assert "Name the token after what uses it" in response.get_data(as_text=True)


def test_the_cli_prints_a_working_token(app, ada):
    result = app.test_cli_runner().invoke(
        args=["tokens", "create", "ada@example.com", "--name", "ci", "--scope", "read", "--expires-days", "7"]
    )
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    assert token.startswith("crt_")
    client = app.test_client()
    assert client.get("/api/v1/items", headers=bearer(token)).status_code == 200
    with app.app_context():
        stored = db.session.scalar(db.select(ApiToken))
        assert stored.name == "ci" and stored.scope == "read"
        assert timedelta(days=6) < stored.expires_at - utcnow() <= timedelta(days=7)
    unknown = app.test_cli_runner().invoke(args=["tokens", "create", "nobody@example.com", "--name", "x"])
    assert unknown.exit_code != 0 and "No user has the address" in unknown.output


def test_an_account_has_at_most_max_tokens(app, client, auth, ada, monkeypatch):
    monkeypatch.setattr(ApiToken, "MAX", 3)
    for _ in range(3):
        assert issue(app, "ada@example.com")
    cli = app.test_cli_runner().invoke(args=["tokens", "create", "ada@example.com", "--name", "one more"])
    assert cli.exit_code != 0 and "An account can have 50 tokens" in cli.output
    auth.login()
    page = client.get("/account")
    form = {"name": "one more", "scope": "read", "expires_days": "", "csrf_token": csrf_from(page)}
    refused = client.post("/account/tokens", data=form)
    assert refused.status_code == 400 and "Revoke one you no longer use" in refused.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(ApiToken.id))) == 3


def test_an_expired_token_is_refused(app, client, ada):
    token = issue(app, "ada@example.com", expires_days=1)
    assert client.get("/api/v1/items", headers=bearer(token)).status_code == 200
    with app.app_context():
        db.session.scalar(db.select(ApiToken)).expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    response = client.get("/api/v1/items", headers=bearer(token))
    assert_problem(response, 401, "This token expired on")
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_a_read_token_reads_and_cannot_write(app, client, ada):
    item_id = make_item(app, ada.id)
    token = issue(app, "ada@example.com", scope="read")
    assert client.get(f"/api/v1/items/{item_id}", headers=bearer(token)).status_code == 200
    assert_problem(client.delete(f"/api/v1/items/{item_id}", headers=bearer(token)), 403, READ_ONLY)
    refused = client.put(
        f"/api/v1/items/{item_id}/edit", json={"keep": [[0, 1]]}, headers={**bearer(token), "If-Match": '"1"'}
    )
    assert_problem(refused, 403, READ_ONLY)
    assert client.get(f"/api/v1/items/{item_id}", headers=bearer(token)).status_code == 200


def test_a_cookie_session_alone_is_not_let_in(app, client, auth, ada):
    item_id = make_item(app, ada.id)
    auth.login()
    assert client.get(f"/videos/{item_id}").status_code == 200  # the session works on the pages
    response = client.get("/api/v1/items")
    assert_problem(response, 401, NO_TOKEN)
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="Cutroom API"'
    # Without CSRF on /api, a cookie must not be able to delete: still 401, and the item stays.
    assert_problem(client.delete(f"/api/v1/items/{item_id}"), 401)
    assert client.get(f"/videos/{item_id}").status_code == 200
    # A wrong scheme or a made-up token fares no better.
    assert_problem(client.get("/api/v1/items", headers={"Authorization": "Basic YWRhOng="}), 401, NO_TOKEN)
    assert_problem(client.get("/api/v1/items", headers=bearer("crt_made_up")), 401, UNKNOWN)


def test_one_accounts_token_never_sees_anothers_items(app, client, ada):
    adas = make_item(app, ada.id)
    bob = make_user(app, "bob@example.com")
    make_item(app, bob.id)
    token = issue(app, "bob@example.com")
    listed = client.get("/api/v1/items", headers=bearer(token)).json
    assert [i["id"] for i in listed["items"]] != [] and adas not in [i["id"] for i in listed["items"]]
    missing = client.get("/api/v1/items/000000000000", headers=bearer(token))
    assert_problem(missing, 404)
    auth = {**bearer(token), "If-Match": '"1"'}
    for response in (
        client.get(f"/api/v1/items/{adas}", headers=auth),
        client.delete(f"/api/v1/items/{adas}", headers=auth),
        client.get(f"/api/v1/items/{adas}/edit", headers=auth),
        client.put(f"/api/v1/items/{adas}/edit", json={"keep": [[0, 1]]}, headers=auth),
        client.get(f"/api/v1/items/{adas}/files/original.mp4", headers=auth),
        client.post(f"/api/v1/items/{adas}/again", data={"silence": "y"}, headers=auth),
        client.post(f"/api/v1/items/{adas}/render", headers=auth),
        client.get(f"/api/v1/items/{adas}/exports", headers=auth),
    ):
        # Exactly as for an item that does not exist: nothing tells that it does.
        assert_problem(response, 404)
        assert response.json == missing.json
    with app.app_context():
        assert db.session.get(Item, adas) is not None


def test_an_upload_that_is_not_a_form_is_told_to_send_one(app, client, ada):
    token = issue(app, "ada@example.com")
    sent = client.post("/api/v1/items", json={"file": "talk.mp4", "silence": True}, headers=bearer(token))
    assert_problem(sent, 415, "Send the upload as multipart/form-data")
    item = make_item(app, ada.id)
    again = client.post(f"/api/v1/items/{item}/again", json={"silence": True}, headers=bearer(token))
    assert_problem(again, 415, "application/x-www-form-urlencoded")


def make_webhook(app, user_id: int, webhook_id: int | None = None) -> int:
    """A webhook to a receiver on loopback (the test allows private addresses), with no delivery."""
    with app.app_context():
        hook = Webhook(
            id=webhook_id,
            user_id=user_id,
            url="http://127.0.0.1:9/hook",
            events=["item.ready"],
            secret=webhooks.new_secret(),
        )
        db.session.add(hook)
        db.session.commit()
        return hook.id


def test_webhooks_are_made_read_changed_tested_and_deleted_through_the_api(app, client, ada):
    app.config["WEBHOOK_ALLOW_PRIVATE"] = True
    token = issue(app, "ada@example.com")
    made = client.post(
        "/api/v1/webhooks",
        json={"url": "http://127.0.0.1:9/hook", "events": ["task.failed", "item.ready"]},
        headers=bearer(token),
    )
    assert made.status_code == 201, made.get_data(as_text=True)
    hook = made.json
    assert hook["secret"].startswith("whsec_") and hook["enabled"] is True
    assert hook["events"] == ["task.failed", "item.ready"]
    assert made.headers["Location"].endswith(f"/api/v1/webhooks/{hook['id']}")
    assert made.headers["Cache-Control"] == "no-store"  # it holds the secret
    reader = issue(app, "ada@example.com", scope="read")
    seen = client.get(f"/api/v1/webhooks/{hook['id']}", headers=bearer(reader)).json
    # A read token cannot sign for it, nor see past the host (a chat service's path is its key).
    assert seen["url"] == "http://127.0.0.1:9/…" and seen["secret"] is None
    assert_problem(client.delete(f"/api/v1/webhooks/{hook['id']}", headers=bearer(reader)), 403, READ_ONLY)

    changed = client.patch(f"/api/v1/webhooks/{hook['id']}", json={"enabled": False}, headers=bearer(token))
    assert changed.status_code == 200 and changed.json["enabled"] is False
    assert changed.json["events"] == ["task.failed", "item.ready"]  # what was not sent stays
    tested = client.post(f"/api/v1/webhooks/{hook['id']}/test", headers=bearer(token))
    assert tested.status_code == 202 and tested.json["status"] == "pending"
    log = client.get(f"/api/v1/webhooks/{hook['id']}/deliveries", headers=bearer(reader)).json
    assert [delivery["id"] for delivery in log["deliveries"]] == [tested.json["id"]]

    assert client.delete(f"/api/v1/webhooks/{hook['id']}", headers=bearer(token)).status_code == 204
    assert client.get("/api/v1/webhooks", headers=bearer(token)).json == {"webhooks": []}


def test_a_webhook_the_rules_refuse_gets_the_account_pages_reasons(app, client, ada):
    token = issue(app, "ada@example.com")
    # Private addresses are refused unless the operator allows them (the SSRF guard).
    wrong = {"url": "http://127.0.0.1/hook", "events": ["nothing"]}
    refused = client.post("/api/v1/webhooks", json=wrong, headers=bearer(token))
    body = assert_problem(refused, 400)
    assert {error["field"] for error in body["errors"]} == {"url", "events"}
    assert "There is no event “nothing”" in body["detail"]
    for wrong in ([], {"url": 5, "events": ["item.ready"]}, {"url": "http://x", "colour": "red"}):
        assert_problem(client.post("/api/v1/webhooks", json=wrong, headers=bearer(token)), 400)
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Webhook.id))) == 0


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, app_env):
    """This test on SQLite and on PostgreSQL; request it before `app`."""
    if request.param == "postgresql":
        app_env.update(on_postgresql(app_env, request.getfixturevalue("pg_database")))
    return request.param


def test_webhooks_asked_for_together_stop_at_the_limit(database, app, ada, served):
    """The limit is counted after the insert with the account locked: 25 at once make exactly 10."""
    app.config.update(WEBHOOK_ALLOW_PRIVATE=True, API_RATE_LIMIT=1000)
    token = issue(app, "ada@example.com")
    gate = threading.Barrier(25)

    def add(n):
        gate.wait()
        body = {"url": f"http://127.0.0.1:9/{n}", "events": ["item.ready"]}
        return requests.post(served + "/api/v1/webhooks", json=body, headers=bearer(token), timeout=60)

    with ThreadPoolExecutor(25) as pool:
        answers = list(pool.map(add, range(25)))
    statuses = [answer.status_code for answer in answers]
    assert statuses.count(201) == webhooks.MAX_WEBHOOKS and statuses.count(400) == 15, statuses
    assert all(webhooks.TOO_MANY in a.json()["detail"] for a in answers if a.status_code == 400)
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Webhook.id))) == webhooks.MAX_WEBHOOKS


def test_one_accounts_token_never_sees_anothers_webhooks(app, client, ada):
    adas = make_webhook(app, ada.id)
    make_user(app, "bob@example.com")
    token = issue(app, "bob@example.com")
    assert client.get("/api/v1/webhooks", headers=bearer(token)).json == {"webhooks": []}
    missing = client.get("/api/v1/webhooks/999999", headers=bearer(token))
    assert_problem(missing, 404)
    # An id past what the database holds is no webhook either (SQLite would raise on it: a 500).
    assert client.get(f"/api/v1/webhooks/{2**64}", headers=bearer(token)).json == missing.json
    for response in (
        client.get(f"/api/v1/webhooks/{adas}", headers=bearer(token)),
        client.patch(f"/api/v1/webhooks/{adas}", json={"enabled": False}, headers=bearer(token)),
        client.delete(f"/api/v1/webhooks/{adas}", headers=bearer(token)),
        client.post(f"/api/v1/webhooks/{adas}/test", headers=bearer(token)),
        client.get(f"/api/v1/webhooks/{adas}/deliveries", headers=bearer(token)),
    ):
        assert_problem(response, 404)
        assert response.json == missing.json
    with app.app_context():
        assert db.session.get(Webhook, adas).enabled is True


def test_an_upload_runs_through_a_real_worker_and_its_files_download(app, client, ada, tmp_path, run_worker):
    token = issue(app, "ada@example.com")
    video = make_video(tmp_path / "talk.mp4", seconds=4)
    with open(video, "rb") as f:
        response = client.post(
            "/api/v1/items",
            data={"file": (f, "talk.mp4"), "silence": "true", "margin": "0.2"},
            headers=bearer(token),
            content_type="multipart/form-data",
        )
    response.request.input_stream.close()
    assert response.status_code == 201, response.get_data(as_text=True)
    item = response.json
    assert response.headers["Location"] == item["url"]
    assert item["title"] == "talk.mp4" and item["status"] == "active" and item["batch"] is None
    tasks = {t["kind"]: t for t in item["tasks"]}
    assert set(tasks) == {"prepare", "silence"}
    assert tasks["prepare"]["status"] == "queued" and tasks["prepare"]["queue_position"] == 1
    assert tasks["silence"]["status"] == "queued" and tasks["silence"]["queue_position"] == 2

    run_worker("media")
    done = client.get(item["url"], headers=bearer(token)).json
    assert done["status"] == "done"
    tasks = {t["kind"]: t for t in done["tasks"]}
    assert tasks["silence"]["status"] == "done" and tasks["silence"]["percent"] == 100
    assert tasks["silence"]["figure"].startswith("removed ")
    files = {f["role"]: f for f in done["files"]}
    assert {"original", "cut", "cutlist"} <= set(files)

    with client.get(files["original"]["url"], headers=bearer(token)) as original:
        assert original.status_code == 200 and original.data == video.read_bytes()
    with client.get(files["cut"]["url"], headers=bearer(token)) as cut:
        assert cut.status_code == 200 and len(cut.data) == files["cut"]["size"]
    assert_problem(client.get(files["cut"]["url"]), 401)
    listed = client.get("/api/v1/items?status=done", headers=bearer(token)).json
    assert [i["id"] for i in listed["items"]] == [done["id"]]

    # Deleting frees the space, as on the item page.
    assert client.delete(item["url"], headers=bearer(token)).status_code == 204
    assert_problem(client.get(item["url"], headers=bearer(token)), 404)
    assert client.get("/api/v1/account", headers=bearer(token)).json["used_bytes"] == 0


def test_an_upload_that_is_not_media_is_refused_with_the_pages_reason(app, client, ada, tmp_path):
    token = issue(app, "ada@example.com")
    text = make_text_file(tmp_path / "notes.mp4")
    with open(text, "rb") as f:
        response = client.post(
            "/api/v1/items",
            data={"file": (f, "notes.mp4")},
            headers=bearer(token),
            content_type="multipart/form-data",
        )
    response.request.input_stream.close()
    body = assert_problem(response, 415, "Media file: ")
    assert body["errors"][0]["field"] == "file"
    missing = client.post("/api/v1/items", data={"silence": "y"}, headers=bearer(token))
    assert_problem(missing, 400, "Choose a video or audio file to upload.")
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Item.id))) == 0


def test_an_upload_over_the_quota_is_refused_with_its_reason(app, client, tmp_path):
    make_user(app, "small@example.com", quota_bytes=10_000)
    token = issue(app, "small@example.com")
    video = make_video(tmp_path / "talk.mp4", seconds=4)
    with open(video, "rb") as f:
        response = client.post(
            "/api/v1/items",
            data={"file": (f, "talk.mp4")},
            headers=bearer(token),
            content_type="multipart/form-data",
        )
    response.request.input_stream.close()
    assert_problem(response, 413, "This upload does not fit in your space")


def test_the_edit_is_read_and_replaced_with_if_match(app, client, ada):
    item_id = make_item(app, ada.id)
    token = issue(app, "ada@example.com")
    url = f"/api/v1/items/{item_id}/edit"
    read = client.get(url, headers=bearer(token))
    assert read.status_code == 200 and read.headers["ETag"] == '"1"' and read.json["keep"] == [[0.0, 10.0]]
    body = {"keep": [[0, 2], [5, 9]]}
    assert_problem(client.put(url, json=body, headers=bearer(token)), 428, "If-Match")
    saved = client.put(url, json=body, headers={**bearer(token), "If-Match": '"1"'})
    assert saved.status_code == 200 and saved.headers["ETag"] == '"2"' and saved.json["kept_duration"] == 6
    stale = client.put(url, json={"keep": [[0, 1]]}, headers={**bearer(token), "If-Match": '"1"'})
    assert_problem(stale, 412, "it is at version 2 now")
    assert client.get(url, headers=bearer(token)).json["keep"] == [[0.0, 2.0], [5.0, 9.0]]
    assert_problem(client.put(url, json={"cut": 1}, headers={**bearer(token), "If-Match": '"2"'}), 400)


def test_jobs_run_again_render_and_export_as_from_the_item_page(app, client, ada):
    item_id = make_item(app, ada.id)
    token = issue(app, "ada@example.com")
    url = f"/api/v1/items/{item_id}"
    assert_problem(client.post(f"{url}/again", data={}, headers=bearer(token)), 400, "Tick at least one job.")
    assert_problem(
        client.post(f"{url}/again", data={"sync": "y"}, headers=bearer(token)), 400, SYNC_NEEDS_EXTERNAL
    )
    # A yes-or-no given as anything else is refused, not taken as yes (schemathesis found it).
    for wrong in ({"transcribe": "{}"}, {"transcribe": "true", "vad": "null"}):
        refused = client.post(f"{url}/again", data=wrong, headers=bearer(token))
        assert_problem(refused, 400, "as true or false")
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Task.id))) == 1  # only the preparation
    again = client.post(f"{url}/again", data={"silence": "y", "margin": "0.5"}, headers=bearer(token))
    assert again.status_code == 202, again.json
    silence = next(t for t in again.json["tasks"] if t["kind"] == "silence")
    assert silence["status"] == "queued" and silence["queue_position"] == 1
    with app.app_context():
        assert db.session.get(Task, silence["id"]).params["margin"] == 0.5
    # While it runs, nothing more is queued: the page's sentence, as a conflict.
    assert_problem(client.post(f"{url}/render", headers=bearer(token)), 409, BUSY)
    assert_problem(
        client.post(f"{url}/exports", json={"editor": "resolve"}, headers=bearer(token)), 409, BUSY
    )

    with app.app_context():
        db.session.get(Task, silence["id"]).status = Task.DONE
        db.session.commit()
    assert_problem(
        client.post(f"{url}/exports", json={"editor": "word"}, headers=bearer(token)), 400, "Not a valid"
    )
    exported = client.post(f"{url}/exports", json={"editor": "resolve"}, headers=bearer(token))
    assert exported.status_code == 202
    assert {t["kind"]: t["status"] for t in exported.json["tasks"]}["export"] == "queued"
    assert client.get(f"{url}/exports", headers=bearer(token)).json == {"exports": []}  # not made yet
    assert_problem(client.get(f"{url}/exports/fcpxml", headers=bearer(token)), 404)


def test_an_unconfirmed_account_cannot_upload_yet(app, client):
    make_user(app, "new@example.com", confirmed=False)
    token = issue(app, "new@example.com")
    response = client.post("/api/v1/items", data={"silence": "y"}, headers=bearer(token))
    assert_problem(
        response, 403, "Before you can upload, open the confirmation link we sent to new@example.com"
    )
    assert client.get("/api/v1/items", headers=bearer(token)).status_code == 200


def test_the_list_is_newest_first_paged_and_filtered_by_status(app, client, ada):
    token = issue(app, "ada@example.com")
    done = make_item(app, ada.id)
    failed = make_item(app, ada.id, status=Task.FAILED)
    active = make_item(app, ada.id, status=Task.QUEUED)
    with app.app_context():  # a failure that a later run of the same job made good counts as done
        item = db.session.get(Item, done)
        item.tasks.append(Task(kind="silence", queue="media", status=Task.FAILED))
        item.tasks.append(Task(kind="silence", queue="media", status=Task.DONE))
        db.session.commit()

    def ids(query):
        response = client.get(f"/api/v1/items{query}", headers=bearer(token))
        assert response.status_code == 200, response.json
        return [i["id"] for i in response.json["items"]]

    assert ids("") == [active, failed, done]
    assert ids("?status=active") == [active]
    assert ids("?status=failed") == [failed]
    assert ids("?status=done") == [done]
    page = client.get("/api/v1/items?per_page=2", headers=bearer(token)).json
    assert page["total"] == 3 and len(page["items"]) == 2 and page["next"].endswith("page=2&per_page=2")
    assert ids("?per_page=2&page=2") == [done]
    for query, reason in (
        ("?status=busy", "status must be one of"),
        ("?page=0", "page must"),
        ("?per_page=500", "per_page"),
    ):
        assert_problem(client.get(f"/api/v1/items{query}", headers=bearer(token)), 400, reason)


def test_too_many_requests_get_429_with_retry_after(app_env, app, client, ada):
    app.config["API_RATE_LIMIT"] = 3
    token, other = issue(app, "ada@example.com"), issue(app, "ada@example.com")
    for _ in range(3):
        assert client.get("/api/v1/account", headers=bearer(token)).status_code == 200
    response = client.get("/api/v1/account", headers=bearer(token))
    assert_problem(response, 429, "more than 3 requests in a minute")
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert client.get("/api/v1/account", headers=bearer(other)).status_code == 200  # per token


def test_an_accounts_tokens_together_get_twice_one_tokens_limit(app, client, ada):
    app.config["API_RATE_LIMIT"] = 3
    first, second, third = (issue(app, "ada@example.com") for _ in range(3))
    for token in (first, second):
        for _ in range(3):
            assert client.get("/api/v1/account", headers=bearer(token)).status_code == 200
    # Refused by its own limit: this does not use up what is left to the account's other tokens.
    assert_problem(client.get("/api/v1/account", headers=bearer(first)), 429, "This token made more than 3")
    response = client.get("/api/v1/account", headers=bearer(third))
    assert_problem(response, 429, "This account's tokens together made more than twice 3 requests")
    assert 1 <= int(response.headers["Retry-After"]) <= 60


def test_requests_arriving_together_get_no_more_than_the_limit(app, ada, served):
    """Counted and checked in one step: 30 requests sent at once with a limit of 5 let 5 through."""
    app.config["API_RATE_LIMIT"] = 5
    token = issue(app, "ada@example.com")
    gate = threading.Barrier(30)

    def call(_):
        gate.wait()
        return requests.get(served + "/api/v1/account", headers=bearer(token), timeout=30).status_code

    with ThreadPoolExecutor(30) as pool:
        statuses = list(pool.map(call, range(30)))
    assert statuses.count(200) == 5 and statuses.count(429) == 25, statuses


def test_unknown_routes_and_methods_answer_problems(app, client, ada):
    token = issue(app, "ada@example.com")
    assert_problem(client.get("/api/v1/nothing", headers=bearer(token)), 404, "There is nothing here")
    assert_problem(client.get("/api/v2/items"), 404)
    wrong = client.patch("/api/v1/items", headers=bearer(token))
    assert_problem(wrong, 405)
    assert set(wrong.headers["Allow"].split(", ")) >= {"GET", "POST"}
    # Query parameters an operation does not take are refused, not ignored: a typo is seen at once.
    assert_problem(client.get("/api/v1/items?stauts=done", headers=bearer(token)), 400, "stauts")
    assert_problem(client.get("/api/v1/items?page=1&page=2", headers=bearer(token)), 400, "page came more")


def test_the_openapi_document_describes_every_route(app, client):
    document = client.get("/api/v1/openapi.json").json
    assert document["openapi"].startswith("3.1")
    described = {
        (path, method.upper())
        for path, ops in document["paths"].items()
        for method in ops
        if method != "parameters"
    }
    routed = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule.removeprefix("/api/v1"))
            path = path.replace("{fmt}", "{format}")
            # Flask's own HEAD (of a GET) and OPTIONS are not described; tus's HEAD and OPTIONS are.
            implicit = {"HEAD"} if "GET" in rule.methods else set()
            implicit |= {"OPTIONS"} if len(rule.methods) > 1 else set()
            routed |= {(path, method) for method in rule.methods - implicit}
    assert described == routed
    upload = document["paths"]["/items"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert upload["required"] == ["file"]
    assert {"silence", "margin", "sync", "external", "transcribe"} <= set(upload["properties"])
    assert upload["properties"]["margin"]["maximum"] == 2


# --- schemathesis over every operation, against the app served over HTTP ---


@pytest.fixture
def live_api(app_env, app, served):
    """The app on a real HTTP server on loopback, with a user who has a write token and two items."""
    app.config["API_RATE_LIMIT"] = 100_000
    user = make_user(app, "fuzz@example.com")
    token = issue(app, "fuzz@example.com")
    items = [make_item(app, user.id) for _ in range(2)]
    app.config["WEBHOOK_ALLOW_PRIVATE"] = True  # the fixture's webhook goes to loopback
    hook = make_webhook(app, user.id)
    return {
        "url": served,
        "token": token,
        "items": items,
        "webhook": hook,
        "user": user,
    }


def test_every_operation_answers_as_the_document_says(live_api, app):
    """schemathesis's checks on every operation, valid and invalid requests: no 5xx, and status codes,
    content types, headers and bodies as the document describes them. Half the cases name a real
    item, so operations reach past the 404 too; an item deleted is made again for the next cases."""
    schema = schemathesis.openapi.from_url(live_api["url"] + "/api/v1/openapi.json")
    checks = schema.config.checks
    # A request the schema allows may still be refused for what only the content or the stored item
    # decide: a file that is no recording (415), ranges past the recording's end or a job that needs a
    # file not sent (400), a stale If-Match (412), the quota (413), the free disk for a resumable
    # upload's declared length (507).
    checks.positive_data_acceptance.expected_statuses = [
        *checks.positive_data_acceptance.expected_statuses,
        *("400", "412", "413", "415", "507"),
    ]
    # Without If-Match the edit answers 428 Precondition Required (RFC 6585), made for just that.
    checks.missing_required_header.expected_statuses = [
        *checks.missing_required_header.expected_statuses,
        "428",
    ]
    headers, real, hook = bearer(live_api["token"]), live_api["items"][0], live_api["webhook"]
    session = requests.Session()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 25  # every operation but reading the document itself

    for operation in operations:
        strategies = []
        for mode in GenerationMode:
            strategies.append(operation.as_strategy(mode))
            if "{item_id}" in operation.path:
                strategies.append(operation.as_strategy(mode, path_parameters={"item_id": real}))
            if "{webhook_id}" in operation.path:
                strategies.append(operation.as_strategy(mode, path_parameters={"webhook_id": hook}))

        @given(case=st.one_of(strategies))
        @settings(
            max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def check(case):
            response = case.call_and_validate(headers=headers, session=session)
            if case.method == "DELETE" and response.status_code == 204 and "item_id" in case.path_parameters:
                make_item(app, live_api["user"].id, item_id=case.path_parameters["item_id"])
            elif case.method == "DELETE" and response.status_code == 204:
                make_webhook(app, live_api["user"].id, webhook_id=case.path_parameters["webhook_id"])

        check()
