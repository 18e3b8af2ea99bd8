"""Operations: the admin page, rq-dashboard at /admin/rq, and the operator's `flask` commands."""

import pytest
from rq import Queue

from tests.helpers import PASSWORD, Auth, csrf_from, make_user
from tests.media import make_video
from tests.test_uploads import upload
from webapp import db
from webapp.admin.forms import parse_size, size_text
from webapp.auth.routes import DISABLED_LOGIN, WRONG_LOGIN
from webapp.helpers import filesize
from webapp.models import Item, MediaFile, User
from webapp.pipeline import redis_conn

GiB, MiB, PiB = 1024**3, 1024**2, 1024**5


@pytest.fixture
def admin(app):
    return make_user(app, email="root@example.com", is_admin=True)


@pytest.fixture
def admin_client(app, admin):
    """A second browser, logged in as the admin."""
    client = app.test_client()
    assert Auth(app, client).login(email=admin.email).status_code == 302
    return client


def get_user(app, email) -> User:
    with app.app_context():
        user = db.session.scalar(db.select(User).filter_by(email=email))
        db.session.expunge(user)
        return user


def admin_post(client, path, **data):
    token = csrf_from(client.get("/admin"))
    return client.post(path, data={"csrf_token": token, **data})


@pytest.mark.parametrize(
    "text, size",
    [("5 GiB", 5 * GiB), ("500 MiB", 500 * MiB), ("1.5 GiB", 1536 * MiB), ("12345", 12345)],
)
def test_sizes_read_like_people_write_them(text, size):
    assert parse_size(text) == size
    assert parse_size(size_text(size)) == size


@pytest.mark.parametrize("text", ["5 GiB", "5 GB", "5120 MiB", "5120 MB"])
def test_a_quota_shows_in_the_unit_it_was_set_in(text):
    """GB is read as GiB, the unit sizes are shown in, so "5 GB" does not come back as 4.7 GiB."""
    assert parse_size(text) == 5 * GiB
    assert filesize(parse_size(text)) == "5.0 GiB" and size_text(parse_size(text)) == "5 GiB"


@pytest.mark.parametrize(
    "n, shown",
    [
        (0, "0 bytes"),
        (1023, "1023 bytes"),
        (1024, "1.0 KiB"),
        (500 * 1024, "500 KiB"),
        (1024 * 1024 - 1, "1.0 MiB"),
        (int(5.4 * GiB), "5.4 GiB"),
        (PiB, "1.0 PiB"),
        (None, "–"),
    ],
)
def test_sizes_are_shown_in_powers_of_1024(n, shown):
    assert filesize(n) == shown


@pytest.mark.parametrize("text", ["", "lots", "5 GX", "-1 GB", "GB"])
def test_a_size_that_is_not_one_says_how_to_write_it(text):
    with pytest.raises(ValueError, match="is not a size"):
        parse_size(text)


@pytest.mark.parametrize("text", ["10000000000 TB", "9223372036854775808", "1" + "0" * 400, "1024.001 TiB"])
def test_a_size_beyond_1_pib_is_refused(text):
    with pytest.raises(ValueError, match="is more than 1 PiB, the largest quota that can be set"):
        parse_size(text)
    assert parse_size("1024 TiB") == parse_size("1 PiB") == PiB


def test_admin_page_lists_every_user(app, admin_client, admin):
    ada = make_user(app, quota_bytes=2 * GiB)
    make_user(app, email="bob@example.com", confirmed=False, disabled=True)
    with app.app_context():
        item = Item(user_id=ada.id, title="talk.mp4")
        item.files.append(MediaFile(role="original", name="original.mp4", size=1_500_000))
        db.session.add(item)
        db.session.commit()

    response = admin_client.get("/admin")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    for text in ("root@example.com", "ada@example.com", "bob@example.com", "not yet", "disabled"):
        assert text in page
    assert "1.4 MiB / 2.0 GiB" in page and 'value="2 GiB"' in page  # used / quota, and the exact quota
    assert "0 bytes / 5.0 GiB" in page and '5.0 GiB<span class="muted">*</span>' in page
    assert 'href="/admin"' in page and "Admin</a>" in page
    assert 'href="/admin/rq/"' in page
    row = page[page.index(f'id="user-{ada.id}"') :]
    assert "<td>1</td>" in row[: row.index("</tr>")]  # one item


def test_admin_pages_are_404_for_everyone_else(app, client, auth, user, admin):
    for path in ("/admin", "/admin/rq/"):
        assert client.get(path).status_code == 404  # anonymous: not even a login redirect
    token = auth.csrf("/login")
    assert client.post(f"/admin/users/{admin.id}/disable", data={"csrf_token": token}).status_code == 404
    auth.login()
    page = client.get("/videos").get_data(as_text=True)
    assert 'href="/admin"' not in page
    for path in ("/admin", "/admin/rq/"):
        assert client.get(path).status_code == 404
    token = auth.csrf("/account")
    response = client.post(f"/admin/users/{user.id}/quota", data={"csrf_token": token, "quota": "1 TB"})
    assert response.status_code == 404
    assert get_user(app, user.email).quota_bytes is None


def test_quota_set_by_admin_limits_uploads(app, client, logged_in, admin_client, tmp_path):
    response = admin_post(admin_client, f"/admin/users/{logged_in.id}/quota", quota="2GiB")
    assert response.status_code == 303
    assert get_user(app, logged_in.email).quota_bytes == 2 * GiB
    assert "may now store 2.0 GiB" in admin_client.get("/admin").get_data(as_text=True)

    video = make_video(tmp_path / "talk.mp4", seconds=2)
    admin_post(admin_client, f"/admin/users/{logged_in.id}/quota", quota=str(video.stat().st_size - 1))
    response = upload(client, video)
    assert response.status_code == 413
    assert "does not fit in your space" in response.get_data(as_text=True)

    admin_post(admin_client, f"/admin/users/{logged_in.id}/quota", quota="")  # back to the default
    assert get_user(app, logged_in.email).quota_bytes is None
    assert upload(client, video).status_code == 303


def test_bad_quota_is_refused_with_a_reason(app, admin_client, user):
    response = admin_post(admin_client, f"/admin/users/{user.id}/quota", quota="plenty")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "ada@example.com: “plenty” is not a size" in page and "500 MiB" in page
    assert get_user(app, user.email).quota_bytes is None


@pytest.mark.parametrize("quota", ["10000000000 TB", "9223372036854775808"])
def test_a_quota_too_large_to_store_is_refused_with_a_reason(app, admin_client, user, quota):
    response = admin_post(admin_client, f"/admin/users/{user.id}/quota", quota=quota)
    assert response.status_code == 400
    assert f"ada@example.com: “{quota}” is more than 1 PiB" in response.get_data(as_text=True)
    assert get_user(app, user.email).quota_bytes is None


def test_the_error_page_renders_after_a_failed_database_write(app, user):
    from flask_login import current_user

    def overflow():
        current_user.quota_bytes = 10**22  # more than the column holds: the flush fails
        db.session.commit()

    app.add_url_rule("/overflow", view_func=overflow)
    app.config["PROPAGATE_EXCEPTIONS"] = False  # as in production: the 500 page, not the exception
    client = app.test_client()
    assert Auth(app, client).login().status_code == 302
    response = client.get("/overflow")
    assert response.status_code == 500
    page = response.get_data(as_text=True)
    assert "Something went wrong" in page and "Log out" in page  # the full page, for the user
    assert get_user(app, user.email).quota_bytes is None


def test_the_error_page_answers_even_when_the_database_cannot(app, client, logged_in):
    app.config["PROPAGATE_EXCEPTIONS"] = False
    with app.app_context():
        db.drop_all()  # every query fails now, the page's own (the current user) as well
    response = client.get("/videos")
    assert response.status_code == 500
    page = response.get_data(as_text=True)
    assert "<h1>Something went wrong</h1>" in page and "Try again in a moment" in page


def test_admin_forms_need_csrf(app, admin_client, user):
    response = admin_client.post(f"/admin/users/{user.id}/quota", data={"quota": "1 GB"})
    assert response.status_code == 400
    assert admin_client.post(f"/admin/users/{user.id}/disable").status_code == 400
    assert get_user(app, user.email).quota_bytes is None and not get_user(app, user.email).disabled


def test_unknown_user_is_404(admin_client):
    assert admin_post(admin_client, "/admin/users/999/disable").status_code == 404


def test_disabled_user_is_logged_out_and_cannot_log_in(app, client, auth, logged_in, admin_client):
    assert client.get("/videos").status_code == 200
    assert admin_post(admin_client, f"/admin/users/{logged_in.id}/disable").status_code == 303
    assert get_user(app, logged_in.email).disabled

    response = client.get("/videos")  # the session that was open is gone
    assert response.status_code == 302 and "/login" in response.headers["Location"]

    response = auth.login()
    assert response.status_code == 403
    assert "This account is disabled; contact the operator." in response.get_data(as_text=True)
    assert client.get("/videos").status_code == 302
    # A wrong password answers as for anyone: the account's state is told only to its owner.
    response = auth.login(password="not the password")
    assert response.status_code == 401 and WRONG_LOGIN in response.get_data(as_text=True)
    assert DISABLED_LOGIN not in response.get_data(as_text=True)

    assert admin_post(admin_client, f"/admin/users/{logged_in.id}/enable").status_code == 303
    assert auth.login().status_code == 302
    assert client.get("/videos").status_code == 200


def test_admin_cannot_disable_themselves(app, admin_client, admin):
    response = admin_post(admin_client, f"/admin/users/{admin.id}/disable")
    assert response.status_code == 400
    assert "cannot disable your own account" in response.get_data(as_text=True)
    assert admin_client.get("/admin").status_code == 200


def test_rq_dashboard_shows_the_queues_to_admins(app, admin_client):
    with app.app_context():
        Queue("media", connection=redis_conn()).enqueue("os.getcwd")
    response = admin_client.get("/admin/rq/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "media" in page and "/admin/rq/static/js/jquery" in page  # its assets are served from here
    csp = response.headers["Content-Security-Policy"]
    assert "'unsafe-inline'" in csp and "frame-ancestors 'none'" in csp and "http" not in csp
    with admin_client.get("/admin/rq/static/js/jquery-3.5.1.min.js") as asset:
        assert asset.status_code == 200

    data = admin_client.get("/admin/rq/0/data/queues.json").get_json()
    assert [(q["name"], q["count"]) for q in data["queues"]] == [("media", 1)]
    # The relaxed policy stays on the dashboard.
    assert "'unsafe-inline'" not in admin_client.get("/admin").headers["Content-Security-Policy"]


def test_rq_dashboard_actions_need_the_csrf_token(app, admin_client):
    with app.app_context():
        queue = Queue("media", connection=redis_conn())
        queue.enqueue("os.getcwd")
    response = admin_client.get("/admin/rq/")
    token = admin_client.get_cookie("_csrf_token", path="/admin/rq").value
    assert response.status_code == 200
    assert admin_client.post("/admin/rq/queue/media/queued/empty").status_code == 400
    assert admin_client.get("/admin/rq/requeue/media").status_code == 405
    with app.app_context():
        assert queue.count == 1
    response = admin_client.post("/admin/rq/queue/media/queued/empty", headers={"X-CSRFToken": token})
    assert response.status_code == 200
    with app.app_context():
        assert queue.count == 0


def test_rq_dashboard_is_404_for_everyone_else(app, client, auth, user):
    paths = (
        "/admin/rq/",
        "/admin/rq",
        "/admin/rq/0/view",
        "/admin/rq/0/data/queues.json",
        "/admin/rq/static/js/jquery-3.5.1.min.js",
    )
    for path in (*paths, "/admin/rq/7/"):
        assert client.get(path).status_code == 404, path
    assert client.post("/admin/rq/queue/media/compact").status_code == 404  # not CSRF's 400
    auth.login()
    for path in paths:
        response = client.get(path)
        assert response.status_code == 404, path
        assert "'unsafe-inline'" not in response.headers["Content-Security-Policy"]
    headers = {"X-CSRFToken": auth.csrf("/account")}
    assert client.post("/admin/rq/queue/media/queued/empty", headers=headers).status_code == 404
    assert client.post("/admin/rq/queue/media/compact").status_code == 404


def test_rq_dashboard_compacts_an_empty_queue(app, admin_client):
    admin_client.get("/admin/rq/")
    token = admin_client.get_cookie("_csrf_token", path="/admin/rq").value
    for queued in (0, 1):
        if queued:
            with app.app_context():
                Queue("media", connection=redis_conn()).enqueue("os.getcwd")
        response = admin_client.post("/admin/rq/queue/media/compact", headers={"X-CSRFToken": token})
        assert response.status_code == 200 and response.get_json() == {"status": "OK"}


def test_cli_create_admin_asks_for_the_password_twice(app):
    runner = app.test_cli_runner()
    password = "a long admin passphrase"
    result = runner.invoke(
        args=["users", "create-admin", "Root@Example.com"], input=f"{password}\n{password}\n"
    )
    assert result.exit_code == 0, result.output
    assert "Created the admin root@example.com" in result.output and password not in result.output
    root = get_user(app, "root@example.com")
    assert root.is_admin and root.confirmed
    client = app.test_client()
    assert Auth(app, client).login(email="root@example.com", password=password).status_code == 302
    assert client.get("/admin").status_code == 200


def test_cli_create_admin_promotes_an_existing_user(app, user):
    result = app.test_cli_runner().invoke(args=["users", "create-admin", user.email])
    assert result.exit_code == 0, result.output
    assert get_user(app, user.email).is_admin
    assert get_user(app, user.email).check_password(PASSWORD)


def test_cli_create_admin_refuses_a_short_password(app):
    result = app.test_cli_runner().invoke(
        args=["users", "create-admin", "root@example.com"], input="short\nshort\n"
    )
    assert result.exit_code == 1 and "at least 10 characters" in result.output
    with app.app_context():
        assert db.session.scalar(db.select(User)) is None


def test_cli_set_quota(app, user):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["users", "set-quota", user.email, "500 MiB"])
    assert result.exit_code == 0, result.output
    assert get_user(app, user.email).quota_bytes == 500 * MiB
    assert "may now store 500 MiB" in result.output
    result = runner.invoke(args=["users", "set-quota", user.email, "2 PiB"])
    assert result.exit_code == 2 and "more than 1 PiB" in result.output
    result = runner.invoke(args=["users", "set-quota", user.email, "2GiB"])
    assert get_user(app, user.email).quota_bytes == 2 * GiB
    result = runner.invoke(args=["users", "set-quota", user.email, "a lot"])
    assert result.exit_code == 2 and "is not a size" in result.output
    assert get_user(app, user.email).quota_bytes == 2 * GiB
    result = runner.invoke(args=["users", "set-quota", "nobody@example.com", "1 GB"])
    assert result.exit_code == 1 and "No user has the address nobody@example.com" in result.output


def test_cli_usage_table_biggest_first(app, user):
    bob = make_user(app, email="bob@example.com", quota_bytes=10 * MiB)
    make_user(app, email="cy@example.com")
    with app.app_context():
        for owner, size in ((user, 1 * MiB), (bob, 4 * MiB), (bob, 1 * MiB)):
            item = Item(user_id=owner.id, title="x.mp4")
            item.files.append(MediaFile(role="original", name="original.mp4", size=size))
            db.session.add(item)
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["usage"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["Email", "Items", "Used", "Quota", "%", "used"]
    assert [line.split()[0] for line in lines[1:]] == ["bob@example.com", "ada@example.com", "cy@example.com"]
    assert lines[1].split() == ["bob@example.com", "2", "5.0", "MiB", "10.0", "MiB", "50.0", "%"]
    assert lines[3].split()[1:] == ["0", "0", "bytes", "5.0", "GiB", "0.0", "%"]
