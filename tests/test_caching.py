"""HTTP caching: versioned static URLs kept a year, private media with validators and Range."""

import hashlib
import os
import re
import shutil
from pathlib import Path

import pytest

from tests.helpers import csrf_from, make_user
from webapp import db
from webapp.models import Item, MediaFile
from webapp.storage import item_dir

STATIC = Path(__file__).resolve().parent.parent / "webapp" / "static"
CONTENT = bytes(range(256)) * 40


def get(client, url: str, headers: dict | None = None):
    """A GET with its body read and its file closed (the test client leaves send_file's file open)."""
    with client.get(url, headers=headers) as response:
        response.get_data()
    return response


def static_urls(client) -> list[str]:
    html = client.get("/login").get_data(as_text=True)
    return re.findall(r'(?:href|src)="(/static/[^"]+)"', html)


def version_in(urls: list[str], filename: str) -> str:
    (url,) = [u for u in urls if u.startswith(f"/static/{filename}?")]
    return url.split("?v=", 1)[1]


def test_pages_link_static_files_by_content_hash(client):
    urls = static_urls(client)
    assert len(urls) == 4, urls
    for url in urls:
        filename = url.removeprefix("/static/").split("?")[0]
        expected = hashlib.sha256((STATIC / filename).read_bytes()).hexdigest()[:12]
        assert url == f"/static/{filename}?v={expected}"


def test_a_versioned_static_url_is_kept_a_year(client):
    for url in static_urls(client):
        response = get(client, url)
        assert response.status_code == 200, url
        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert response.headers["ETag"] and response.headers["Last-Modified"]
        # Same for every visitor, so no copy per cookie, and nobody's cookie in it.
        assert "Cookie" not in response.vary and "Set-Cookie" not in response.headers
        assert "default-src 'self'" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("query", ["", "?v=0123456789ab", "?v="])
def test_a_plain_or_stale_static_url_is_revalidated(client, query):
    response = get(client, "/static/style.css" + query)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-cache"
    again = get(client, "/static/style.css" + query, {"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304 and again.headers["Cache-Control"] == "no-cache"


def test_editing_a_static_file_changes_its_url(app, client, tmp_path):
    folder = tmp_path / "static"
    shutil.copytree(STATIC, folder)
    app.static_folder = str(folder)
    old = version_in(static_urls(client), "style.css")
    (folder / "style.css").write_text((STATIC / "style.css").read_text() + "\nbody { margin: 0; }\n")

    urls = static_urls(client)
    new = version_in(urls, "style.css")
    assert new != old
    assert version_in(urls, "app.js") == hashlib.sha256((STATIC / "app.js").read_bytes()).hexdigest()[:12]
    fresh = get(client, f"/static/style.css?v={new}")
    assert fresh.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert fresh.data.endswith(b"body { margin: 0; }\n")
    # An old page's URL now gets the new file, which must not be kept under the old name.
    assert get(client, f"/static/style.css?v={old}").headers["Cache-Control"] == "no-cache"


# --- media: one user's files -------------------------------------------------------------------


@pytest.fixture
def media(app, logged_in):
    """A stored output file of the logged-in user's item: (its URL, its path)."""
    with app.app_context():
        item = Item(user_id=logged_in.id, title="Talk.mp4")
        item.files = [MediaFile(role="cut", name="cut.mp4", size=len(CONTENT))]
        db.session.add(item)
        db.session.commit()
        item_id, path = item.id, item_dir(item) / "cut.mp4"
    path.parent.mkdir(parents=True)
    path.write_bytes(CONTENT)
    return f"/videos/{item_id}/files/cut.mp4", path


def test_media_is_private_and_always_revalidated(client, media):
    url, _ = media
    response = get(client, url)
    assert response.status_code == 200 and response.data == CONTENT
    assert response.cache_control.private and response.cache_control.no_cache
    assert not response.cache_control.public and response.cache_control.max_age is None
    assert response.headers["ETag"] and response.headers["Last-Modified"]
    assert response.headers["Accept-Ranges"] == "bytes"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]


def test_media_unchanged_since_either_validator_is_304(client, media):
    url, _ = media
    first = get(client, url)
    for validator in (
        {"If-None-Match": first.headers["ETag"]},
        {"If-Modified-Since": first.headers["Last-Modified"]},
    ):
        response = get(client, url, validator)
        assert response.status_code == 304, validator
        assert response.data == b""
        assert response.headers["ETag"] == first.headers["ETag"]
        assert response.cache_control.private and response.cache_control.no_cache


def test_media_range_is_206_with_those_bytes_and_416_past_the_end(client, media):
    url, _ = media
    response = get(client, url, {"Range": "bytes=1000-1099"})
    assert response.status_code == 206
    assert response.headers["Content-Range"] == f"bytes 1000-1099/{len(CONTENT)}"
    assert response.data == CONTENT[1000:1100]
    assert response.cache_control.private

    tail = get(client, url, {"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.data == CONTENT[-10:]

    past = get(client, url, {"Range": f"bytes={len(CONTENT)}-"})
    assert past.status_code == 416
    assert past.headers["Content-Range"] == f"bytes */{len(CONTENT)}"


@pytest.mark.parametrize(
    "value",
    ["bytes=0-1,5-6", "bytes=0-1, 100-", "bytes=abc", "bytes=5-2", "items=0-1", "bytes", "0-1"],
)
def test_a_range_with_several_parts_another_unit_or_no_sense_gets_the_whole_file(client, media, value):
    url, _ = media
    response = get(client, url, {"Range": value})
    assert response.status_code == 200, value
    assert response.data == CONTENT and "Content-Range" not in response.headers


def test_media_if_range_with_a_stale_validator_sends_the_whole_file(client, media):
    url, _ = media
    first = get(client, url)
    current = {"Range": "bytes=0-9", "If-Range": first.headers["ETag"]}
    assert get(client, url, current).status_code == 206
    stale_tag = {"Range": "bytes=0-9", "If-Range": '"an-older-version"'}
    stale_date = {"Range": "bytes=0-9", "If-Range": "Mon, 01 Jan 2024 00:00:00 GMT"}
    for headers in (stale_tag, stale_date):
        response = get(client, url, headers)
        assert response.status_code == 200, headers
        assert response.data == CONTENT and "Content-Range" not in response.headers


def test_a_replaced_output_gets_a_new_etag_even_with_the_same_size_and_mtime(client, media):
    url, path = media
    old = get(client, url)
    before = path.stat()
    # As a job that runs again publishes: a new file renamed into place. Same size, and the same
    # mtime, as coarse timestamps or a copy that keeps the source's mtime give.
    replacement = path.with_name(".new-cut.mp4")
    replacement.write_bytes(CONTENT[::-1])
    os.replace(replacement, path)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))

    response = get(client, url, {"If-None-Match": old.headers["ETag"]})
    assert response.status_code == 200 and response.data == CONTENT[::-1]
    assert response.headers["ETag"] != old.headers["ETag"]
    ranged = get(client, url, {"Range": "bytes=0-9", "If-Range": old.headers["ETag"]})
    assert ranged.status_code == 200 and ranged.data == CONTENT[::-1]


def test_media_stays_behind_login_and_ownership_whatever_the_validators(app, client, auth, media):
    url, _ = media
    etag = get(client, url).headers["ETag"]
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/videos"))})
    # Revalidation is how a browser's stored copy stops working after logout.
    response = get(client, url, {"If-None-Match": etag})
    assert response.status_code == 302 and "/login" in response.headers["Location"]

    make_user(app, email="eve@example.com")
    auth.login("eve@example.com")
    for headers in ({}, {"If-None-Match": etag}, {"Range": "bytes=0-9"}):
        assert get(client, url, headers).status_code == 404, headers
