"""The library: pages of items, search by name, rename, the usage header kept current, local times."""

import html
import re
import shutil
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.helpers import ROOT, csrf_from, make_user
from tests.test_uploads import upload
from webapp import db
from webapp.helpers import filesize
from webapp.models import Item, MediaFile, Task
from webapp.storage import item_dir, user_dir

EXAMPLE = ROOT / "tests" / "media" / "example.mp4"
# The newest item of `fill_library`: 22:15 UTC, which is 03:45 the next day in India (UTC+5:30).
NEWEST = datetime(2026, 11, 3, 22, 15)
# What silence removal reports for a 10 min talk (jobs/cutlist.py).
CUT = {
    "original_duration": 615.0,
    "kept_duration": 553.5,
    "removed_seconds": 61.5,
    "removed_share": 0.1,
    "cutlist": {"duration": 615.0, "keep": [[0.0, 300.0], [361.5, 615.0]], "removed": [[300.0, 361.5]]},
}
TOPICS = ("Team meeting", "Lecture week", "Interview with Ana", "Podcast episode", "Standup")


def make_poster(folder: Path) -> Path:
    """A poster frame of the real example clip, as preparation makes one."""
    poster = folder / "poster.jpg"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-ss",
            "2",
            "-i",
            str(EXAMPLE),
            "-frames:v",
            "1",
            "-vf",
            "scale=480:-2",
            str(poster),
        ],
        check=True,
    )
    return poster


def fill_library(app, user_id: int, count: int, poster: Path) -> list[str]:
    """`count` finished items, one an hour back from NEWEST, each with its poster on disk and the
    rows of a real run (silence removed, transcribed); their ids, newest first."""
    ids = []
    with app.app_context():
        for n in range(count):
            item = Item(
                user_id=user_id,
                title=f"{TOPICS[n % len(TOPICS)]} {n + 1}.mp4",
                created_at=NEWEST - timedelta(hours=n),
                kind="video",
                duration=600 + 37 * n,
            )
            sizes = {
                ("original", "original.mp4"): 80_000_000 + n * 1_000_000,
                ("cut", "cut.mp4"): 50_000_000,
                ("transcript_json", "transcript.json"): 40_000,
            }
            item.files = [MediaFile(role=role, name=name, size=size) for (role, name), size in sizes.items()]
            item.files.append(MediaFile(role="poster", name="poster.jpg", size=poster.stat().st_size))
            item.tasks = [
                Task(kind="prepare", queue="media", status=Task.DONE),
                Task(
                    kind="silence",
                    queue="media",
                    status=Task.DONE,
                    result=CUT,
                ),
                Task(kind="transcribe", queue="transcribe", status=Task.DONE, result={"words": 1480}),
            ]
            db.session.add(item)
            db.session.flush()
            item_dir(item).mkdir(parents=True)
            shutil.copy(poster, item_dir(item) / "poster.jpg")
            ids.append(item.id)
        db.session.commit()
    return ids


@pytest.fixture(scope="module")
def poster(tmp_path_factory):
    return make_poster(tmp_path_factory.mktemp("poster"))


@pytest.fixture
def library(app, logged_in, poster):
    return fill_library(app, logged_in.id, 20, poster)


def titles(response) -> list[str]:
    return [
        html.unescape(t)
        for t in re.findall(r'<h2 class="item-title"><a [^>]*>([^<]*)</a>', response.get_data(as_text=True))
    ]


def test_the_library_shows_12_items_a_page_newest_first(client, library):
    first = client.get("/videos")
    page = first.get_data(as_text=True)
    assert titles(first) == [f"{TOPICS[n % 5]} {n + 1}.mp4" for n in range(12)]
    assert "1–12 of 20" in page and "Page 1 of 2" in page
    assert 'href="/videos?page=2" rel="next">Older' in page and 'rel="prev"' not in page

    second = client.get("/videos?page=2")
    assert titles(second) == [f"{TOPICS[n % 5]} {n + 1}.mp4" for n in range(12, 20)]
    assert "13–20 of 20" in second.get_data(as_text=True)
    assert 'href="/videos?page=1" rel="prev">' in second.get_data(as_text=True)
    # Past the end (items deleted meanwhile) is the last page; nonsense is the first.
    for past_the_end in (9, 10**30):
        assert titles(client.get(f"/videos?page={past_the_end}")) == titles(second)
    assert titles(client.get("/videos?page=-3")) == titles(client.get("/videos?page=x")) == titles(first)


def test_search_by_name_ignores_case_and_reads_wildcards_as_text(app, client, logged_in, poster):
    ids = fill_library(app, logged_in.id, 4, poster)
    with app.app_context():
        for item_id, title in zip(
            ids, ["100% done.mp4", "a_b.mp4", "axb.mp4", "Interview ÄNA.mp4"], strict=True
        ):
            db.session.get(Item, item_id).title = title
        db.session.commit()

    assert titles(client.get("/videos?q=INTERVIEW")) == ["Interview ÄNA.mp4"]
    assert titles(client.get("/videos?q=%25")) == ["100% done.mp4"]  # "%" is a percent sign, not "anything"
    assert titles(client.get("/videos?q=a_b")) == ["a_b.mp4"]  # "_" is an underscore, not "any letter"
    found = client.get("/videos?q=%20.MP4%20").get_data(as_text=True)
    assert "1–4 of 4 with “.MP4” in the name" in found and 'value=".MP4"' in found
    nothing = client.get("/videos?q=holiday").get_data(as_text=True)
    assert "No recording has “holiday” in its name" in nothing and "No recordings yet" not in nothing


def test_search_keeps_to_its_pages_and_to_its_owner(app, client, logged_in, library, poster):
    other = make_user(app, email="bob@example.com")
    fill_library(app, other.id, 3, poster)
    response = client.get("/videos?q=team")  # items 1, 6, 11, 16 of Ada; 1 of Bob is not hers
    assert titles(response) == [
        "Team meeting 1.mp4",
        "Team meeting 6.mp4",
        "Team meeting 11.mp4",
        "Team meeting 16.mp4",
    ]
    assert "Page 1 of" not in response.get_data(as_text=True)  # one page: no page links
    page = client.get("/videos?q=MP4").get_data(as_text=True)  # Ada's 20, not Bob's 3
    assert "1–12 of 20" in page and 'href="/videos?page=2&amp;q=MP4" rel="next"' in page


def rename(client, item_id, title, csrf=True):
    data = {"title": title}
    if csrf:
        data["csrf_token"] = csrf_from(client.get(f"/videos/{item_id}"))
    return client.post(f"/videos/{item_id}/rename", data=data)


def test_rename(app, client, logged_in, library):
    item_id = library[3]
    response = rename(client, item_id, "  Board meeting, 3 Nov\u202e.mp4 ")
    assert response.status_code == 303 and response.headers["Location"] == f"/videos/{item_id}"
    page = client.get(f"/videos/{item_id}").get_data(as_text=True)
    assert '<h1 class="item-heading">Board meeting, 3 Nov.mp4</h1>' in page  # trimmed, no bidi override
    assert "Renamed to “Board meeting, 3 Nov.mp4”" in page
    assert titles(client.get("/videos?q=board")) == ["Board meeting, 3 Nov.mp4"]

    hostile = '<img src=x onerror=alert(1)>"&'
    assert rename(client, item_id, hostile).status_code == 303
    page = client.get("/videos").get_data(as_text=True)
    assert "&lt;img src=x onerror=alert(1)&gt;&#34;&amp;" in page and "<img src=x" not in page


@pytest.mark.parametrize(
    "title, reason",
    [("", "Write the new name."), ("\u200b\x00 ", "Write the new name."), ("x" * 256, "at most 255")],
)
def test_a_bad_name_is_refused_with_the_reason(app, client, logged_in, library, title, reason):
    response = rename(client, library[0], title)
    assert response.status_code == 400
    assert reason in response.get_data(as_text=True) and '<details class="rename" open>' in response.get_data(
        as_text=True
    )
    assert titles(client.get("/videos"))[0] == "Team meeting 1.mp4"


def test_rename_needs_csrf_and_ones_own_item(app, client, logged_in, library, poster):
    assert rename(client, library[0], "New", csrf=False).status_code == 400
    other = make_user(app, email="bob@example.com")
    (theirs,) = fill_library(app, other.id, 1, poster)
    token = csrf_from(client.get("/videos"))
    response = client.post(f"/videos/{theirs}/rename", data={"csrf_token": token, "title": "Mine now"})
    assert response.status_code == 404
    with app.app_context():
        assert db.session.get(Item, theirs).title == "Team meeting 1.mp4"


def usage_header(page: str) -> str:
    return re.search(r'<div class="usage" id="usage"[^>]*>\s*<span>([^<]+) of', page).group(1)


def disk_bytes(app, user_id: int) -> int:
    with app.app_context():
        folder = user_dir(user_id)
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def card_sizes(page: str) -> list[str]:
    return re.findall(r'<p class="facts">[^·]*· ([^·]+) ·', page)


def test_the_usage_header_follows_jobs_and_deletes(app, client, logged_in, run_worker):
    assert upload(client, EXAMPLE, silence="y").status_code == 303
    assert upload(client, EXAMPLE, name="second.mp4").status_code == 303
    page = client.get("/videos").get_data(as_text=True)
    uploaded = usage_header(page)
    assert uploaded == filesize(2 * EXAMPLE.stat().st_size)
    assert 'hx-get="/videos/live?page=1"' in page  # the page polls while the jobs run

    run_worker("media")  # preparation makes posters and waveforms; silence removal a cut
    live = client.get("/videos/live", headers={"HX-Request": "true"}).get_data(as_text=True)
    # The poll's last answer carries the header too, out of band, with what the jobs added.
    assert '<div class="usage" id="usage" role="group" aria-label="Storage" hx-swap-oob="true">' in live
    on_disk = disk_bytes(app, logged_in.id)
    assert usage_header(live) == filesize(on_disk) != uploaded
    with app.app_context():
        items = db.session.scalars(db.select(Item).order_by(Item.created_at.desc())).all()
        assert card_sizes(live) == [filesize(i.size) for i in items]
        assert sum(i.size for i in items) == on_disk
        cut = items[1].id

    token = csrf_from(client.get(f"/videos/{cut}"))
    response = client.post(f"/videos/{cut}/delete", data={"csrf_token": token}, follow_redirects=True)
    page = response.get_data(as_text=True)
    assert usage_header(page) == filesize(disk_bytes(app, logged_in.id)) == card_sizes(page)[0]


def test_times_are_sent_as_utc_for_the_browser_to_show_locally(client, library):
    page = client.get("/videos").get_data(as_text=True)
    assert '<time datetime="2026-11-03T22:15:00Z" data-local>2026-11-03 22:15 UTC</time>' in page
    item = client.get(f"/videos/{library[0]}").get_data(as_text=True)
    assert 'uploaded <time datetime="2026-11-03T22:15:00Z" data-local>2026-11-03 22:15 UTC</time>' in item
