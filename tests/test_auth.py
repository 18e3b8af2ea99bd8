"""Accounts: sign-up, confirmation, login and logout, password reset.

Real Redis (rate limits), a real worker delivering to a real SMTP sink, signed tokens
made "in the past" by moving itsdangerous' clock.
"""

import os
import re
import socket
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from email import errors, message_from_string, policy
from http.client import HTTPConnection
from http.cookiejar import CookieJar
from urllib.parse import quote, urlencode, urlsplit
from urllib.request import HTTPCookieProcessor, build_opener

import pytest
from aiosmtpd.controller import Controller
from itsdangerous.timed import TimestampSigner

from tests.helpers import PASSWORD, ROOT, Auth, Mailbox, csrf_from, make_user
from webapp import db, ratelimit
from webapp.auth import tokens
from webapp.localredis import free_port
from webapp.mail import deliver, mail_link
from webapp.models import LoginSession, User, hash_token

NEW_PASSWORD = "a brand new passphrase"
LINK = re.compile(r"https?://\S+")


# Helpers, also used by test_account.py.


def post_form(client, path, data, page=None, **kwargs):
    """POST `data` to `path` with the CSRF token of the form page (`page`, default `path`)."""
    token = csrf_from(client.get(page or path))
    return client.post(path, data={**data, "csrf_token": token}, **kwargs)


def signup(client, email, password=PASSWORD):
    return post_form(client, "/signup", {"email": email, "password": password})


def text(response) -> str:
    return response.get_data(as_text=True)


def main_of(response) -> str:
    """The page's <main>, without the per-request CSRF tokens."""
    html = text(response)
    main = html[html.index("<main>") : html.index("</main>")]
    return re.sub(r'(name="csrf_token"[^>]*value=")[^"]*', r"\1", main)


def body_of(message) -> str:
    return message.get_payload(decode=True).decode()


def link_path(message) -> str:
    """The path of the one link in a mail (the test client needs no host)."""
    links = LINK.findall(body_of(message))
    assert len(links) == 1, body_of(message)
    return urlsplit(links[0]).path


def delivered(mailbox, run_worker, count):
    """Run the real mail worker, then the messages the SMTP sink holds (exactly `count`)."""
    run_worker("mail")
    messages = mailbox.wait_for(count, timeout=5 if count else 0)
    assert len(messages) == count, [m["Subject"] for m in messages]
    return messages


def remembered_client(app, source_client):
    """A fresh client that carries only `source_client`'s remember-me cookie."""
    cookie = source_client.get_cookie("remember_token")
    assert cookie is not None, "no remember-me cookie was set"
    other = app.test_client()
    other.set_cookie("remember_token", cookie.value)
    return other


def get_user(app, email="ada@example.com") -> User:
    with app.app_context():
        user = db.session.scalar(db.select(User).filter_by(email=email))
        if user is not None:
            db.session.expunge(user)
        return user


@pytest.fixture
def token_made_ago(app, monkeypatch):
    """make(create, user, seconds): a token signed `seconds` ago, by moving itsdangerous' clock back."""

    def make(create, user, seconds):
        with monkeypatch.context() as patch:
            patch.setattr(TimestampSigner, "get_timestamp", lambda self: int(time.time()) - seconds)
            with app.app_context():
                return create(user)

    return make


# Sign-up and confirmation.


def test_signup_confirm_login_flow(app, client, auth, mailbox, run_worker):
    page = client.get("/signup")
    assert page.status_code == 200
    assert re.search(r"<label[^>]*>Email</label>", text(page))
    assert re.search(r"<label[^>]*>Password</label>", text(page))

    response = client.post(
        "/signup",
        data={"email": "  New.Person@Example.COM ", "password": NEW_PASSWORD, "csrf_token": csrf_from(page)},
    )
    assert response.status_code == 200
    assert "Check your inbox" in text(response)
    assert "no mail server" not in text(response)  # mail was sent: no word of an outbox
    user = get_user(app, "new.person@example.com")
    assert user is not None and not user.confirmed
    assert user.password_hash.startswith("scrypt:")
    assert client.get("/account").status_code == 302, "sign-up must not log in"

    [message] = delivered(mailbox, run_worker, 1)
    assert message["To"] == "new.person@example.com"
    assert "Confirm" in message["Subject"]
    assert LINK.search(body_of(message)).group().startswith("http://localhost/confirm/")

    response = client.get(link_path(message))
    assert response.status_code == 302 and response.location == "/login"
    assert "is confirmed" in text(client.get("/login"))
    assert get_user(app, "new.person@example.com").confirmed

    response = auth.login(email="new.person@example.com", password=NEW_PASSWORD)
    assert response.status_code == 302 and response.location == "/videos"
    assert client.get("/videos").status_code == 200


def test_signup_with_existing_address_answers_the_same(app, client, user, mailbox, run_worker):
    new = signup(client, "someone.new@example.com", "another long password")
    existing = signup(client, " ADA@example.com", "another long password")

    assert new.status_code == existing.status_code == 200
    assert main_of(new).replace("someone.new@example.com", "@") == main_of(existing).replace(
        "ada@example.com", "@"
    )
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(User)) == 2
    assert get_user(app).check_password(PASSWORD), "the existing account must be untouched"

    messages = {m["To"]: m for m in delivered(mailbox, run_worker, 2)}
    notice = body_of(messages["ada@example.com"])
    assert "already has an account" in notice
    assert "/confirm/" not in notice and "http://localhost/reset" in notice
    assert "/confirm/" in body_of(messages["someone.new@example.com"])


def test_existing_address_notice_is_rate_limited(app, client, user, mailbox, run_worker):
    first = signup(client, "ada@example.com")
    second = signup(client, "ada@example.com")
    assert first.status_code == second.status_code == 200
    assert main_of(first) == main_of(second)
    delivered(mailbox, run_worker, 1)


def test_signup_existing_address_takes_as_long_as_a_new_one(app, client, user):
    # Without the extra hash an existing address answers several times faster.
    def timed(email):
        start = time.perf_counter()
        assert signup(client, email).status_code == 200
        return time.perf_counter() - start

    new = statistics.median(timed(f"new{i}@example.com") for i in range(4))
    existing = statistics.median(timed("ada@example.com") for _ in range(4))
    assert existing > 0.5 * new, (existing, new)


@pytest.mark.parametrize(
    ("email", "password", "message"),
    [
        ("not-an-address", PASSWORD, "Enter a valid email address"),
        ("ada@", PASSWORD, "Enter a valid email address"),
        ("", PASSWORD, "Enter your email address."),
        ("short@example.com", "too short", "at least 10 characters"),
    ],
)
def test_signup_refuses_bad_input(app, client, mailbox, email, password, message):
    response = signup(client, email, password)
    assert response.status_code == 400
    assert message in text(response)
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(User)) == 0


def user_count(app) -> int:
    with app.app_context():
        return db.session.scalar(db.select(db.func.count()).select_from(User))


def test_a_fullwidth_or_differently_written_address_is_the_same_account(app, client, auth, user):
    for written in ("ａｄａ@example.com", "ADA@ＥＸＡＭＰＬＥ.com", "ada@example.com"):
        assert signup(client, written, "another long password").status_code == 200
    assert user_count(app) == 1
    assert auth.login(email="Ａｄａ@ｅｘａｍｐｌｅ.ｃｏｍ").status_code == 302


@pytest.mark.parametrize("look_alike", ["аda@example.com", "ada@exаmple.com", "pаypal@example.com"])
def test_addresses_mixing_alphabets_are_refused(app, client, user, look_alike):
    assert "\N{CYRILLIC SMALL LETTER A}" in look_alike
    response = signup(client, look_alike)
    assert response.status_code == 400
    assert "mixes letters of different alphabets" in text(response)
    assert user_count(app) == 1


@pytest.mark.parametrize("address", ["jürgen@example.com", "山田太郎@例え.jp", "petr@пример.рф"])
def test_addresses_in_one_alphabet_are_welcome(app, client, address):
    assert signup(client, address).status_code == 200
    assert get_user(app, address) is not None


def test_an_international_address_gets_a_valid_mail(app, client, mailbox, run_worker):
    assert signup(client, "Ünïcode@Exämple.com").status_code == 200
    assert get_user(app, "ünïcode@exämple.com") is not None

    [message] = delivered(mailbox, run_worker, 1)
    [envelope] = mailbox.envelopes
    assert "SMTPUTF8" in envelope.mail_options
    assert envelope.rcpt_tos == ["ünïcode@xn--exmple-cua.com"]
    # In UTF-8 as RFC 6532 has it (Python's parser still notes the non-ASCII name as a defect of
    # RFC 5322), not in encoded words, which an address cannot have.
    assert "\r\nTo: ünïcode@xn--exmple-cua.com\r\n".encode() in envelope.original_content
    parsed = message_from_string(envelope.original_content.decode(), policy=policy.default)
    assert {type(defect) for defect in parsed["To"].defects} == {errors.NonASCIILocalPartDefect}
    [to] = parsed["To"].addresses
    assert (to.username, to.domain) == ("ünïcode", "xn--exmple-cua.com")
    assert client.get(link_path(message)).status_code == 302


def test_an_ascii_name_at_an_international_domain_needs_no_smtputf8(app):
    """A server without SMTPUTF8 takes it: the domain goes as IDNA, so the whole message is ASCII."""
    box = Mailbox()
    server = Controller(box, hostname="127.0.0.1", port=free_port())
    server.start()
    try:
        app.config.update(MAIL_SERVER=server.hostname, MAIL_PORT=server.port)
        with app.app_context():
            deliver({"to": "bob@exämple.com", "subject": "Hello", "body": "Hi"})
    finally:
        server.stop()
    [envelope] = box.envelopes
    assert envelope.rcpt_tos == ["bob@xn--exmple-cua.com"] and "SMTPUTF8" not in envelope.mail_options
    assert b"\r\nTo: bob@xn--exmple-cua.com\r\n" in envelope.original_content


def test_signups_are_limited_per_client_address(client):
    for i in range(10):
        assert signup(client, f"person{i}@example.com").status_code == 200
    response = signup(client, "one.more@example.com")
    assert response.status_code == 429
    assert "Try again in 60 minutes" in text(response)
    assert response.headers["Retry-After"].isdigit()


def test_confirming_twice_is_harmless(app, client):
    user = make_user(app, confirmed=False)
    with app.app_context():
        token = tokens.confirmation_token(user)
    assert client.get(f"/confirm/{token}").status_code == 302
    confirmed_at = get_user(app).confirmed_at
    response = client.get(f"/confirm/{token}", follow_redirects=True)
    assert response.status_code == 200
    assert "already confirmed" in text(response)
    assert get_user(app).confirmed_at == confirmed_at


def test_confirmation_redirects_a_logged_in_user_to_the_library(app, client, auth):
    user = make_user(app, confirmed=False)
    assert auth.login().status_code == 302, "unconfirmed users can log in"
    with app.app_context():
        token = tokens.confirmation_token(user)
    response = client.get(f"/confirm/{token}")
    assert response.status_code == 302 and response.location == "/videos"
    assert get_user(app).confirmed


def test_confirmation_link_expires_after_48_hours(app, client, auth, token_made_ago):
    user = make_user(app, confirmed=False)
    expired = token_made_ago(tokens.confirmation_token, user, 48 * 3600 + 60)
    nearly = token_made_ago(tokens.confirmation_token, user, 48 * 3600 - 60)

    response = client.get(f"/confirm/{expired}")
    assert response.status_code == 410
    assert "expired" in text(response)
    assert 'href="/login?next=/confirm/resend"' in text(response), "a way to get a new link"
    assert not get_user(app).confirmed

    auth.login()
    response = client.get(f"/confirm/{expired}")
    assert response.status_code == 410
    assert 'action="/confirm/resend"' in text(response)

    assert client.get(f"/confirm/{nearly}").status_code == 302
    assert get_user(app).confirmed


def test_tampered_or_foreign_confirmation_tokens_are_refused(app, client):
    user = make_user(app, confirmed=False)
    with app.app_context():
        token = tokens.confirmation_token(user)
        reset = tokens.reset_token(user)
    body, signature = token.rsplit(".", 1)
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    for bad in (f"{body}.{flipped}", token[:-6], reset, "nonsense", "a.b.c"):
        response = client.get(f"/confirm/{bad}")
        assert response.status_code == 400, bad
        assert "does not work" in text(response)
        assert "Traceback" not in text(response)
    assert not get_user(app).confirmed


def test_confirmation_link_dies_when_the_email_changes(app, client):
    user = make_user(app, confirmed=False)
    with app.app_context():
        token = tokens.confirmation_token(user)
        db.session.get(User, user.id).email = "ada@elsewhere.example"
        db.session.commit()
    assert client.get(f"/confirm/{token}").status_code == 400
    assert not get_user(app, "ada@elsewhere.example").confirmed


def test_resend_confirmation(app, client, auth, mailbox, run_worker):
    user = make_user(app, confirmed=False)
    assert client.get("/confirm/resend").status_code == 302, "login required"
    auth.login()

    page = client.get("/confirm/resend")
    assert page.status_code == 200
    assert "Send the link again" in text(page)
    response = client.post("/confirm/resend", data={"csrf_token": csrf_from(page)})
    assert response.status_code == 302
    assert "sent a new confirmation link" in text(client.get(response.location))

    response = post_form(client, "/confirm/resend", {})
    assert response.status_code == 429
    assert re.search(r"another link in (\d+ seconds|1 minute)\.", text(response))
    assert 0 < int(response.headers["Retry-After"]) <= 60

    [message] = delivered(mailbox, run_worker, 1)
    assert message["To"] == user.email
    assert client.get(link_path(message)).status_code == 302
    assert get_user(app).confirmed

    response = client.get("/confirm/resend", follow_redirects=True)
    assert "already confirmed" in text(response)


def test_resend_confirmation_allows_five_a_day(app, client, auth):
    user = make_user(app, confirmed=False)
    auth.login()
    for _ in range(5):
        assert post_form(client, "/confirm/resend", {}).status_code == 302
        _forget_minute(app, user)
    response = post_form(client, "/confirm/resend", {})
    assert response.status_code == 429
    assert re.search(r"in \d+ hours", text(response))


def _forget_minute(app, user):
    """Let the one-a-minute window pass."""
    with app.app_context():
        ratelimit.reset("confirm-mail-minute", str(user.id))


# Logging in and out.


def test_login_page_labels(client):
    html = text(client.get("/login"))
    assert re.search(r"<label[^>]*>Email</label>", html)
    assert re.search(r"<label[^>]*>Password</label>", html)
    assert re.search(r"<label><input[^>]*name=\"remember\"[^>]*> Remember me</label>", html)


def test_wrong_password_and_unknown_email_look_the_same(app, client, auth, user):
    wrong = auth.login(password="not the password")
    unknown = auth.login(email="nobody@example.com")
    assert wrong.status_code == unknown.status_code == 401
    assert "Wrong email or password." in text(wrong)
    assert main_of(wrong).replace("ada@example.com", "@") == main_of(unknown).replace(
        "nobody@example.com", "@"
    )


def test_unknown_email_takes_as_long_as_a_wrong_password(app, auth, user):
    # Without the dummy hash an unknown address answers several times faster.
    def timed(**credentials):
        start = time.perf_counter()
        assert auth.login(**credentials).status_code == 401
        return time.perf_counter() - start

    wrong = statistics.median(timed(password="not the password") for _ in range(4))
    unknown = statistics.median(timed(email=f"nobody{i}@example.com") for i in range(4))
    assert unknown > 0.5 * wrong, (unknown, wrong)


def test_login_is_limited_per_account(app, client, auth, user):
    for _ in range(5):
        assert auth.login(password="not the password").status_code == 401
    response = auth.login()
    assert response.status_code == 429, "the 6th attempt is refused even with the right password"
    assert "Try again in 15 minutes" in text(response)
    assert 'href="/reset"' in text(response)
    assert 0 < int(response.headers["Retry-After"]) <= 900
    assert client.get("/account").status_code == 302
    # The limit is per account: another account from the same address still logs in.
    make_user(app, email="grace@example.com")
    assert auth.login(email="grace@example.com").status_code == 302


def login_from(app, address, email="ada@example.com", password=PASSWORD):
    """A login attempt from a browser at the client address `address`."""
    browser = app.test_client()
    token = csrf_from(browser.get("/login"))
    return browser.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token},
        environ_base={"REMOTE_ADDR": address},
    )


def test_wrong_passwords_lock_out_the_address_not_the_owner(app, user):
    for _ in range(5):
        assert login_from(app, "198.51.100.66", password="a guess").status_code == 401
    assert login_from(app, "198.51.100.66").status_code == 429, "locked even with the right password"
    assert login_from(app, "192.0.2.10").status_code == 302, "the owner elsewhere logs in"
    assert login_from(app, "198.51.100.66").status_code == 429, "the failing address stays locked"


def test_guesses_from_many_addresses_meet_the_limit_per_account(app, user):
    for i in range(50):
        assert login_from(app, f"198.51.100.{i // 4}", password="a guess").status_code == 401
    response = login_from(app, "192.0.2.10")
    assert response.status_code == 429
    assert "Try again in 60 minutes" in text(response)


def test_login_limit_applies_to_unknown_addresses_too(auth, user):
    for _ in range(5):
        assert auth.login(email="ghost@example.com").status_code == 401
    assert auth.login(email="Ghost@Example.com ").status_code == 429


def test_login_is_limited_per_client_address(app, client, auth, user):
    for i in range(20):
        assert auth.login(email=f"guess{i}@example.com").status_code == 401
    assert auth.login().status_code == 429

    elsewhere = app.test_client()
    token = csrf_from(elsewhere.get("/login"))
    response = elsewhere.post(
        "/login",
        data={"email": "ada@example.com", "password": PASSWORD, "csrf_token": token},
        environ_base={"REMOTE_ADDR": "192.0.2.7"},
    )
    assert response.status_code == 302


def test_successful_login_resets_the_account_counter(app, client, auth, user):
    for _ in range(2):
        for _ in range(4):
            assert auth.login(password="not the password").status_code == 401
        assert auth.login().status_code == 302
        post_form(client, "/logout", {}, page="/logout")


def test_login_renews_the_session(app, client, auth, user):
    client.get("/login")
    with client.session_transaction() as anonymous:
        anonymous["planted"] = "by someone else"
        before = dict(anonymous)
    cookie_before = client.get_cookie("session").value

    assert auth.login().status_code == 302
    assert client.get_cookie("session").value != cookie_before
    with client.session_transaction() as renewed:
        assert "planted" not in renewed
        assert renewed.get("csrf_token") != before["csrf_token"]
        token = renewed["_user_id"]
    with app.app_context():
        [login] = db.session.scalars(db.select(LoginSession)).all()
        assert login.token_hash == hash_token(token), "the session carries its own login's token"


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/videos/new", "/videos/new"),
        ("/account?tab=1", "/account?tab=1"),
        ("https://evil.example/", "/videos"),
        ("//evil.example/", "/videos"),
        ("/\\evil.example/", "/videos"),
        ("/\t/evil.example/", "/videos"),
        ("javascript:alert(1)", "/videos"),
        ("videos", "/videos"),
    ],
)
def test_login_follows_only_local_next(client, user, target, expected):
    token = csrf_from(client.get("/login"))
    response = client.post(
        f"/login?next={quote(target, safe='')}",
        data={"email": "ada@example.com", "password": PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 302
    assert response.location == expected


def test_login_required_page_comes_back_after_login(client, user):
    response = client.get("/account")
    assert response.status_code == 302
    login_page = client.get(response.location)
    assert re.search(r'action="/login\?next=(/|%2F)account"', text(login_page))
    response = client.post(
        "/login?next=%2Faccount",
        data={"email": "ada@example.com", "password": PASSWORD, "csrf_token": csrf_from(login_page)},
    )
    assert response.location == "/account"


def test_remember_me_keeps_a_new_browser_session_logged_in(app, client, auth, user):
    assert auth.login(remember="y").status_code == 302
    assert client.get_cookie("remember_token").http_only
    assert remembered_client(app, client).get("/account").status_code == 200
    assert app.test_client().get("/account").status_code == 302


def test_logout(app, client, auth, user):
    auth.login(remember="y")
    page = client.get("/logout")
    assert page.status_code == 200 and "Log out" in text(page)
    assert client.post("/logout").status_code == 400, "CSRF is required"
    assert client.get("/account").status_code == 200

    response = client.post("/logout", data={"csrf_token": csrf_from(page)})
    assert response.status_code == 302 and response.location == "/login"
    assert "You are logged out." in text(client.get("/login"))
    assert client.get("/account").status_code == 302
    assert client.get_cookie("remember_token") is None, "the remember-me cookie is deleted"


def copied_cookies(app, source_client, *names):
    """A fresh client carrying copies of `source_client`'s cookies `names`, as a thief would."""
    copy = app.test_client()
    for name in names:
        cookie = source_client.get_cookie(name)
        assert cookie is not None, f"no {name} cookie was set"
        copy.set_cookie(name, cookie.value)
    return copy


@pytest.mark.parametrize("cookie", ["session", "remember_token"])
def test_cookies_copied_before_logout_stop_working(app, client, auth, user, cookie):
    auth.login(remember="y")
    assert copied_cookies(app, client, cookie).get("/account").status_code == 200
    stolen = {name: client.get_cookie(name).value for name in ("session", "remember_token")}

    post_form(client, "/logout", {}, page="/logout")

    replayed = app.test_client()
    replayed.set_cookie(cookie, stolen[cookie])
    response = replayed.get("/account")
    assert response.status_code == 302 and response.location.startswith("/login")


def test_cookies_copied_before_logout_stop_working_under_gunicorn(gunicorn_server, user):
    site = f"http://{gunicorn_server}"
    jar = CookieJar()
    browser = build_opener(HTTPCookieProcessor(jar))

    def post(path, **data):
        html = browser.open(site + path).read().decode()
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
        return browser.open(site + path, urlencode({**data, "csrf_token": token}).encode())

    post("/login", email=user.email, password=PASSWORD, remember="y")
    stolen = {cookie.name: cookie.value for cookie in jar}
    assert {"session", "remember_token"} <= stolen.keys()

    def replay(name):
        connection = HTTPConnection(gunicorn_server, timeout=10)
        connection.request("GET", "/account", headers={"Cookie": f"{name}={stolen[name]}"})
        status = connection.getresponse().status
        connection.close()
        return status

    assert replay("session") == replay("remember_token") == 200
    post("/logout")
    assert replay("session") == replay("remember_token") == 302


def test_logout_ends_only_that_login(app, client, auth, user):
    auth.login()
    other = app.test_client()
    Auth(app, other).login(remember="y")
    post_form(client, "/logout", {}, page="/logout")
    assert client.get("/account").status_code == 302
    assert other.get("/account").status_code == 200
    assert remembered_client(app, other).get("/account").status_code == 200


@pytest.mark.parametrize(("remember", "days"), [(False, 31), (True, 365)])
def test_a_login_ends_when_its_cookie_would_have_expired(app, client, auth, user, remember, days):
    auth.login(**({"remember": "y"} if remember else {}))
    with app.app_context():
        login = db.session.scalar(db.select(LoginSession))
        login.created_at -= timedelta(days=days - 1)
        db.session.commit()
    assert client.get("/account").status_code == 200
    with app.app_context():
        db.session.scalar(db.select(LoginSession)).created_at -= timedelta(days=2)
        db.session.commit()
    assert client.get("/account").status_code == 302
    # Logging in again clears the expired login away.
    auth.login()
    with app.app_context():
        assert len(db.session.scalars(db.select(LoginSession)).all()) == 1


# Password reset.


def reset_request(client, email):
    return post_form(client, "/reset", {"email": email})


def test_reset_answers_the_same_and_mails_only_accounts(app, client, user, mailbox, run_worker):
    page = client.get("/reset")
    assert re.search(r"<label[^>]*>Email</label>", text(page))
    unknown = reset_request(client, "nobody@example.com")
    known = reset_request(client, "ADA@example.com")
    assert unknown.status_code == known.status_code == 200
    assert main_of(unknown).replace("nobody@example.com", "@") == main_of(known).replace(
        "ada@example.com", "@"
    )
    [message] = delivered(mailbox, run_worker, 1)
    assert message["To"] == "ada@example.com"


@pytest.fixture
def external_url(app):
    """A site with a path prefix, so links that ignore part of EXTERNAL_URL show."""
    app.config["EXTERNAL_URL"] = "https://cutroom.example.org/studio"
    return "https://cutroom.example.org/studio"


def test_a_forged_host_never_gets_into_a_mail(app, client, user, external_url, mailbox, run_worker):
    forged = {"base_url": "http://evil.example", "headers": {"Host": "evil.example"}}
    token = csrf_from(client.get("/reset", **forged))
    assert client.post("/reset", data={"email": user.email, "csrf_token": token}, **forged).status_code == 200
    token = csrf_from(client.get("/signup", **forged))
    data = {"email": "new@example.com", "password": NEW_PASSWORD, "csrf_token": token}
    assert client.post("/signup", data=data, **forged).status_code == 200

    messages = delivered(mailbox, run_worker, 2)
    links = [link for message in messages for link in LINK.findall(body_of(message))]
    assert {urlsplit(link).path.split("/")[2] for link in links} == {"reset", "confirm"}
    for link in links:
        assert link.startswith(f"{external_url}/"), link
    reset_link = next(link for link in links if "/reset/" in link)
    assert client.get(reset_link.removeprefix(external_url)).status_code == 200


def test_mail_links_need_an_external_url(app):
    app.config["EXTERNAL_URL"] = ""
    with app.test_request_context("/reset"), pytest.raises(RuntimeError, match="EXTERNAL_URL is not set"):
        mail_link("auth.login")


@pytest.mark.parametrize("value", ["", "cutroom.example.org"])
def test_gunicorn_refuses_to_start_without_an_external_url(app_env, value):
    env = {**os.environ, **app_env, "EXTERNAL_URL": value}
    bind = f"127.0.0.1:{free_port()}"
    command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "-b", bind, "wsgi:app"]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "EXTERNAL_URL is not set" in result.stderr and "Traceback" not in result.stderr


def test_make_run_uses_its_own_url_for_mail_links():
    """run.py sets EXTERNAL_URL to the URL it prints (checked here where it stops early: port taken)."""
    import run

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        env = {"PORT": str(port), "REDIS_URL": "redis://127.0.0.1:1/0"}
        given = {**env, "EXTERNAL_URL": "https://cutroom.example.org"}
        assert run.Supervisor(env).run() == run.Supervisor(given).run() == 1
    assert env["EXTERNAL_URL"] == f"http://127.0.0.1:{port}"
    assert given["EXTERNAL_URL"] == "https://cutroom.example.org"


def test_reset_for_unknown_address_sends_nothing(client, mailbox, run_worker):
    assert reset_request(client, "nobody@example.com").status_code == 200
    delivered(mailbox, run_worker, 0)


def test_reset_mails_are_rate_limited_silently(client, user, mailbox, run_worker):
    responses = [reset_request(client, "ada@example.com") for _ in range(4)]
    assert {r.status_code for r in responses} == {200}
    assert len({main_of(r) for r in responses}) == 1
    delivered(mailbox, run_worker, 3)


def test_reset_password_flow(app, client, auth, mailbox, run_worker):
    make_user(app, confirmed=False)
    other = app.test_client()
    Auth(app, other).login(remember="y")
    remembered = remembered_client(app, other)
    assert remembered.get("/account").status_code == 200

    reset_request(client, "ada@example.com")
    [message] = delivered(mailbox, run_worker, 1)
    path = link_path(message)
    assert path.startswith("/reset/")

    page = client.get(path)
    assert page.status_code == 200
    assert re.search(r"<label[^>]*>New password</label>", text(page))
    short = client.post(path, data={"password": "short", "csrf_token": csrf_from(page)})
    assert short.status_code == 400 and "at least 10 characters" in text(short)

    response = client.post(path, data={"password": NEW_PASSWORD, "csrf_token": csrf_from(page)})
    assert response.status_code == 302 and response.location == "/login"
    assert "Your password is changed" in text(client.get("/login"))
    assert get_user(app).confirmed, "the reset link proved the mailbox"

    # Every other session and remember-me cookie is logged out.
    assert other.get("/account").status_code == 302
    assert remembered.get("/account").status_code == 302

    # The link is single use.
    used = client.get(path)
    assert used.status_code == 400
    assert 'href="/reset"' in text(used)

    assert auth.login().status_code == 401
    assert auth.login(password=NEW_PASSWORD).status_code == 302


def test_reset_link_expires_after_an_hour(app, client, user, token_made_ago):
    expired = token_made_ago(tokens.reset_token, user, 3600 + 60)
    nearly = token_made_ago(tokens.reset_token, user, 3600 - 60)
    response = client.get(f"/reset/{expired}")
    assert response.status_code == 410
    assert "expired" in text(response) and 'href="/reset"' in text(response)
    data = {"password": NEW_PASSWORD, "csrf_token": csrf_from(client.get("/login"))}
    assert client.post(f"/reset/{expired}", data=data).status_code == 410
    assert get_user(app).check_password(PASSWORD)
    assert client.get(f"/reset/{nearly}").status_code == 200


def test_reset_link_dies_when_the_password_changes(app, client, user):
    with app.app_context():
        token = tokens.reset_token(user)
        db.session.get(User, user.id).set_password("changed some other way")
        db.session.commit()
    assert client.get(f"/reset/{token}").status_code == 400


def test_tampered_reset_token_is_refused(app, client, user):
    with app.app_context():
        confirm = tokens.confirmation_token(user)
        token = tokens.reset_token(user)
    for bad in (confirm, token[:-3], "x" * 40):
        response = client.get(f"/reset/{bad}")
        assert response.status_code == 400
        assert "Traceback" not in text(response)


def test_reset_lifts_the_login_lock(app, client, auth, user):
    for _ in range(5):
        auth.login(password="not the password")
    assert auth.login().status_code == 429
    with app.app_context():
        token = tokens.reset_token(user)
    post_form(client, f"/reset/{token}", {"password": NEW_PASSWORD})
    assert auth.login(password=NEW_PASSWORD).status_code == 302


# Protections every page has.


@pytest.mark.parametrize("path", ["/login", "/signup", "/reset", "/logout", "/confirm/resend"])
def test_posts_without_csrf_are_refused(app, client, user, path):
    response = client.post(path, data={"email": "ada@example.com", "password": PASSWORD})
    assert response.status_code == 400
    assert "This form has expired" in text(response)
    assert get_user(app).confirmed_at is not None


def test_security_headers_and_cookie_flags(app, client, auth, user):
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"]
    [session_cookie] = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert "HttpOnly" in session_cookie and "SameSite=Lax" in session_cookie
    assert "Secure" not in session_cookie

    secure = app.test_client()
    response = secure.get("/login", base_url="https://localhost")
    assert "Secure" in response.headers["Set-Cookie"]
    token = csrf_from(response)
    response = secure.post(
        "/login",
        base_url="https://localhost",
        headers={"Referer": "https://localhost/login"},  # Flask-WTF checks it over HTTPS
        data={"email": "ada@example.com", "password": PASSWORD, "remember": "y", "csrf_token": token},
    )
    assert response.status_code == 302
    cookies = response.headers.getlist("Set-Cookie")
    assert len(cookies) == 2
    for cookie in cookies:
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_pages_have_no_inline_script_or_style(app, client, user, token_made_ago):
    pages = [client.get(p) for p in ("/signup", "/login", "/reset", "/confirm/nonsense", "/reset/nonsense")]
    pages.append(signup(client, "someone@example.com"))
    pages.append(reset_request(client, "someone@example.com"))
    pages.append(client.get(f"/reset/{token_made_ago(tokens.reset_token, user, 0)}"))
    for response in pages:
        html = text(response)
        assert not re.search(r"<script(?![^>]*\ssrc=)", html), response.request.path
        assert "<style" not in html and " style=" not in html, response.request.path
