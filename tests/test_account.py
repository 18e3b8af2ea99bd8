"""The account page: usage against quota and what takes it, password change logging out every other
session, and deleting the account with everything in it."""

import re

import pytest
from rq.job import Job, JobStatus

from tests.helpers import PASSWORD, Auth, csrf_from, make_user
from tests.media import make_talk
from tests.test_auth import NEW_PASSWORD, get_user, remembered_client, text
from tests.test_disk import upload
from webapp import db
from webapp.auth import tokens
from webapp.helpers import filesize
from webapp.models import Item, MediaFile, Task
from webapp.pipeline import redis_conn
from webapp.storage import item_dir


def change_password(client, current=PASSWORD, new=NEW_PASSWORD):
    token = csrf_from(client.get("/account"))
    data = {"current_password": current, "new_password": new, "csrf_token": token}
    return client.post("/account/password", data=data)


def test_account_needs_login(client):
    response = client.get("/account")
    assert response.status_code == 302
    assert response.location.startswith("/login?next=")


def test_account_shows_email_confirmation_usage_and_quota(app, client, auth):
    user = make_user(app, confirmed=False, quota_bytes=2 * 1024 * 1024)
    with app.app_context():
        item = Item(user_id=user.id, title="talk.mp4")
        item.files = [
            MediaFile(role="original", name="original.mp4", size=400 * 1024),
            MediaFile(role="poster", name="poster.jpg", size=100 * 1024),
        ]
        db.session.add(item)
        db.session.commit()
    auth.login()

    response = client.get("/account")
    assert response.status_code == 200
    html = text(response)
    assert "ada@example.com" in html
    assert "Not confirmed" in html and 'href="/confirm/resend"' in html
    assert "500 KiB of 2.0 MiB used" in html
    assert re.search(r'<progress value="512000" max="2097152">', html)
    assert re.search(r"<label[^>]*>Current password</label>", html)
    assert re.search(r"<label[^>]*>New password</label>", html)
    assert " style=" not in html and "<style" not in html


def test_account_of_a_confirmed_user_with_the_default_quota(app, client, logged_in):
    html = text(client.get("/account"))
    assert "Confirmed on" in html and "Not confirmed" not in html
    assert "0 bytes of 5.0 GiB used" in html


def test_password_change_logs_out_every_other_session(app, client, auth, user):
    auth.login(remember="y")
    other = app.test_client()
    Auth(app, other).login()
    remembered_elsewhere = app.test_client()
    Auth(app, remembered_elsewhere).login(remember="y")
    remembered_elsewhere = remembered_client(app, remembered_elsewhere)
    assert other.get("/account").status_code == 200
    assert remembered_elsewhere.get("/account").status_code == 200
    with app.app_context():
        reset_link = tokens.reset_token(user)

    response = change_password(client)
    assert response.status_code == 302 and response.location == "/account"
    page = client.get("/account")
    assert page.status_code == 200, "the changing client stays logged in"
    assert "Your password is changed" in text(page)

    response = other.get("/account")
    assert response.status_code == 302 and response.location.startswith("/login")
    assert remembered_elsewhere.get("/account").status_code == 302
    # The changing client's own remember-me cookie was renewed, so it still works.
    assert remembered_client(app, client).get("/account").status_code == 200

    user = get_user(app)
    assert user.check_password(NEW_PASSWORD) and not user.check_password(PASSWORD)
    assert client.get(f"/reset/{reset_link}").status_code == 400, "reset links die with the password"


def test_wrong_current_password_changes_nothing(app, client, logged_in):
    other = app.test_client()
    Auth(app, other).login()
    response = change_password(client, current="not my password")
    assert response.status_code == 400
    assert "That is not your current password." in text(response)
    assert get_user(app).check_password(PASSWORD)
    assert other.get("/account").status_code == 200


def test_new_password_must_be_long_enough(app, client, logged_in):
    response = change_password(client, new="short")
    assert response.status_code == 400
    assert "at least 10 characters" in text(response)
    assert get_user(app).check_password(PASSWORD)


def test_wrong_current_passwords_are_rate_limited(app, client, logged_in):
    for _ in range(5):
        assert change_password(client, current="a wrong guess").status_code == 400
    response = change_password(client)
    assert response.status_code == 429
    assert "Try again in 15 minutes" in text(response)
    assert get_user(app).check_password(PASSWORD)


def test_password_change_needs_csrf(app, client, logged_in):
    response = client.post(
        "/account/password", data={"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    )
    assert response.status_code == 400
    assert get_user(app).check_password(PASSWORD)


def test_account_shows_what_takes_the_most_space(app, client, logged_in):
    with app.app_context():
        for title, files in [
            ("small.mp4", {"original": 1_000_000, "poster": 20_000}),
            ("lecture.mp4", {"original": 30_000_000, "poster": 40_000, "cut": 20_000_000, "cutlist": 1_000}),
            ("podcast.wav", {"original": 9_000_000, "waveform": 5_000, "transcript_json": 100_000}),
        ]:
            item = Item(user_id=logged_in.id, title=title)
            item.files = [MediaFile(role=role, name=role, size=size) for role, size in files.items()]
            db.session.add(item)
        db.session.commit()
        ids = {i.title: i.id for i in db.session.scalars(db.select(Item))}
    html = text(client.get("/account"))
    assert "What takes the most space" in html
    assert "<dt>Originals</dt><dd>38.1 MiB</dd>" in html
    assert "<dt>Results</dt><dd>19.2 MiB</dd>" in html
    assert "<dt>Previews</dt><dd>63.5 KiB</dd>" in html
    rows = re.findall(r'<td><a href="/videos/(\w+)">([^<]+)</a></td><td>([^<]+)</td>', html)
    assert rows == [
        (ids["lecture.mp4"], "lecture.mp4", "47.7 MiB"),
        (ids["podcast.wav"], "podcast.wav", "8.7 MiB"),
        (ids["small.mp4"], "small.mp4", "996 KiB"),
    ]
    # The library's header names the biggest one.
    library = text(client.get("/videos"))
    biggest = rf'Most space: <a href="/videos/{ids["lecture.mp4"]}">lecture.mp4</a>\s*\(47.7 MiB\)'
    assert re.search(biggest, library)


def delete_account(client, password=PASSWORD, **extra):
    data = {"password": password, "csrf_token": csrf_from(client.get("/account")), **extra}
    return client.post("/account/delete", data=data)


@pytest.fixture(scope="module")
def talk(tmp_path_factory):
    return make_talk(
        tmp_path_factory.mktemp("account") / "talk.wav", [(1.0, True), (1.0, False)], video=False
    )


def queued_upload(app, client, talk):
    """An uploaded recording whose jobs wait in the queue; returns its folder and RQ job ids."""
    assert upload(client, talk, silence=True).status_code == 303
    with app.app_context():
        item = db.session.scalar(db.select(Item))
        folder = item_dir(item)
        return folder, [t.rq_job_id for t in item.tasks]


def test_deleting_the_account_removes_everything_stops_its_jobs_and_logs_out(app, client, auth, user, talk):
    auth.login(remember="y")
    folder, job_ids = queued_upload(app, client, talk)
    other_session = app.test_client()
    Auth(app, other_session).login()
    assert (folder / "original.wav").exists()

    response = delete_account(client)
    assert response.status_code == 303 and response.location == "/login"
    page = text(client.get("/login"))
    size = filesize(talk.stat().st_size)
    assert f"Your account ada@example.com and everything in it (1 item, {size}) are deleted." in page
    assert get_user(app) is None
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Item.id))) == 0
        assert db.session.scalar(db.select(db.func.count(MediaFile.id))) == 0
        assert db.session.scalar(db.select(db.func.count(Task.id))) == 0
        for job_id in job_ids:
            assert Job.fetch(job_id, connection=redis_conn()).get_status() == JobStatus.CANCELED
    assert not folder.parent.exists(), "the account's whole media folder is gone"
    assert client.get_cookie("remember_token") is None, "the remember-me cookie is deleted too"
    assert client.get("/videos").status_code == 302
    assert other_session.get("/videos").status_code == 302, "every session ends with the account"


def test_wrong_password_deletes_nothing(app, client, logged_in, talk):
    folder, job_ids = queued_upload(app, client, talk)
    response = delete_account(client, password="not my password")
    assert response.status_code == 400
    assert "That is not your password. Nothing was deleted." in text(response)
    assert get_user(app) is not None and (folder / "original.wav").exists()
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Item.id))) == 1
        for job_id in job_ids:
            assert Job.fetch(job_id, connection=redis_conn()).get_status() != JobStatus.CANCELED
    assert client.get("/videos").status_code == 200


def test_account_deletion_needs_csrf(app, client, logged_in, talk):
    folder, _ = queued_upload(app, client, talk)
    response = client.post("/account/delete", data={"password": PASSWORD})
    assert response.status_code == 400
    assert get_user(app) is not None and (folder / "original.wav").exists()


PHONE_AGENT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like G"
    "ecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


def test_account_lists_the_logins_and_logs_out_everywhere(app, client, auth, user):
    auth.login(remember="y")
    phone = app.test_client()
    token = csrf_from(phone.get("/login"))
    phone.post(
        "/login",
        data={"email": user.email, "password": PASSWORD, "remember": "y", "csrf_token": token},
        headers={"User-Agent": PHONE_AGENT},
        environ_base={"REMOTE_ADDR": "192.0.2.9"},
    )
    laptop = app.test_client()
    Auth(app, laptop).login()
    copies = [remembered_client(app, phone), remembered_client(app, client)]

    page = text(client.get("/account"))
    section = page[page.index('id="logins"') :]
    logins = re.findall(r"<li>(.*?)</li>", section[: section.index("</section>")], re.S)
    assert len(logins) == 3
    assert sum("(this browser)" in login for login in logins) == 1
    assert any("Safari on iPhone, from 192.0.2.9" in login and "(remembered)" in login for login in logins)

    assert client.post("/account/logout-everywhere").status_code == 400, "CSRF is required"
    assert phone.get("/account").status_code == 200

    token = csrf_from(client.get("/account"))
    response = client.post("/account/logout-everywhere", data={"csrf_token": token})
    assert response.status_code == 303 and response.location == "/login"
    assert "logged out everywhere" in text(client.get("/login"))
    assert client.get_cookie("remember_token") is None
    for browser in (client, phone, laptop, *copies):
        assert browser.get("/account").status_code == 302
    # Logging in again works as before.
    assert Auth(app, phone).login().status_code == 302
