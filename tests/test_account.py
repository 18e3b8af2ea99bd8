"""The account page: usage against quota, and password change logging out every other session."""

import re

from tests.conftest import PASSWORD, Auth, csrf_from, make_user
from tests.test_auth import NEW_PASSWORD, get_user, remembered_client, text
from webapp import db
from webapp.auth import tokens
from webapp.models import Item, MediaFile


def change_password(client, current=PASSWORD, new=NEW_PASSWORD):
    token = csrf_from(client.get("/account"))
    data = {"current_password": current, "new_password": new, "csrf_token": token}
    return client.post("/account/password", data=data)


def test_account_needs_login(client):
    response = client.get("/account")
    assert response.status_code == 302
    assert response.location.startswith("/login?next=")


def test_account_shows_email_confirmation_usage_and_quota(app, client, auth):
    user = make_user(app, confirmed=False, quota_bytes=2_000_000)
    with app.app_context():
        item = Item(user_id=user.id, title="talk.mp4")
        item.files = [
            MediaFile(role="original", name="original.mp4", size=400_000),
            MediaFile(role="poster", name="poster.jpg", size=100_000),
        ]
        db.session.add(item)
        db.session.commit()
    auth.login()

    response = client.get("/account")
    assert response.status_code == 200
    html = text(response)
    assert "ada@example.com" in html
    assert "Not confirmed" in html and 'href="/confirm/resend"' in html
    assert "500 KB of 2.0 MB used" in html
    assert re.search(r'<progress value="500000" max="2000000">', html)
    assert re.search(r"<label[^>]*>Current password</label>", html)
    assert re.search(r"<label[^>]*>New password</label>", html)
    assert " style=" not in html and "<style" not in html


def test_account_of_a_confirmed_user_with_the_default_quota(app, client, logged_in):
    html = text(client.get("/account"))
    assert "Confirmed on" in html and "Not confirmed" not in html
    assert f"0 bytes of {app.config['DEFAULT_QUOTA'] / 1e9:.1f} GB used" in html


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
