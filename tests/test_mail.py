"""Without MAIL_SERVER a first run still works offline: mail goes to instance/outbox/ as .eml files."""

import re
from urllib.parse import urlsplit

import pytest

from tests.test_auth import signup


@pytest.fixture
def app_env(app_env, tmp_path):
    return {**app_env, "MAIL_SERVER": "", "MAIL_OUTBOX": str(tmp_path / "outbox")}


def test_confirmation_mail_lands_in_the_outbox_with_a_working_link(app, client, tmp_path, run_worker):
    response = signup(client, "offline@example.com")
    assert response.status_code == 200
    # "Check your inbox" says where the mail went, since no inbox will get it.
    page = response.get_data(as_text=True)
    assert "Check your inbox" in page and f"<code>{tmp_path / 'outbox'}</code>" in page
    run_worker("mail")
    (eml,) = (tmp_path / "outbox").glob("*.eml")
    raw = eml.read_text()  # what a person opening the file sees, undecoded
    assert "To: offline@example.com" in raw
    (link,) = re.findall(r"http://\S+/confirm/\S+", raw)
    response = client.get(urlsplit(link).path)
    assert response.status_code == 302, response.get_data(as_text=True)
    assert client.get(response.headers["Location"]).status_code == 200
    from webapp import db
    from webapp.models import User

    with app.app_context():
        assert db.session.scalar(db.select(User)).confirmed


def test_an_international_address_makes_a_valid_eml(app, client, tmp_path, run_worker):
    assert signup(client, "ünïcode@exämple.com").status_code == 200
    run_worker("mail")
    (eml,) = (tmp_path / "outbox").glob("*.eml")
    # UTF-8 as RFC 6532 has it; encoded words (=?utf-8?...) in an address make it invalid.
    assert "\nTo: ünïcode@xn--exmple-cua.com\n" in eml.read_text(encoding="utf-8")


def test_an_unconfirmed_library_says_where_the_mail_went(app, client, auth, tmp_path):
    from tests.helpers import make_user

    make_user(app, confirmed=False)
    auth.login()
    page = client.get("/videos").get_data(as_text=True)
    assert "Confirm your email first" in page and f"<code>{tmp_path / 'outbox'}</code>" in page
