"""The whole user flow in a real browser (Playwright driving Debian's chromium) against gunicorn
and real RQ workers: sign up, confirm from the mail, log in, upload with all three jobs, watch
them run, open the item, play and seek, read the subtitles, download, delete.

Screenshots land in test-artifacts/ (git-ignored): they are how a person sees Cutroom.
"""

import re
import shutil
import time
import zipfile
from urllib.parse import urlsplit

import pytest

from tests.helpers import ROOT
from tests.media import derive_track, espeak_exe, speech_scene, write_track

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = [
    pytest.mark.skipif(
        CHROMIUM is None, reason="chromium is not installed (make test installs it on Debian)"
    ),
    pytest.mark.skipif(espeak_exe() is None, reason="espeak-ng is needed to make test speech"),
]
ARTIFACTS = ROOT / "test-artifacts"
EMAIL, PASSWORD = "grace@example.com", "a long enough passphrase"


@pytest.fixture(scope="module")
def talk(tmp_path_factory):
    folder = tmp_path_factory.mktemp("talk")
    scene = speech_scene(22, seed=11)
    camera = write_track(folder / "Team talk.mp4", derive_track(scene, 1.0, 20, snr_db=30), video=True)
    mic = write_track(
        folder / "mic.wav", derive_track(scene, 0.6, 21, gain_db=-3, sample_rate=44100), sample_rate=44100
    )
    return camera, mic


@pytest.fixture
def site(gunicorn_server, start):
    """gunicorn plus a media/mail worker and a transcription worker, as `make run` starts them."""
    start("worker.py", "media", "mail")
    start("worker.py", "transcribe")
    return f"http://{gunicorn_server}"


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--autoplay-policy=no-user-gesture-required",
            ],
        )
        yield browser
        browser.close()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def no_overflow(page) -> None:
    width = page.evaluate("() => document.documentElement.scrollWidth")
    viewport = page.viewport_size["width"]
    assert width <= viewport, f"{page.url}: content is {width} px wide on a {viewport} px screen"


def on_phone(browser, page):
    """The page `page` shows, opened again at phone width in the same login."""
    phone = browser.new_page(
        viewport={"width": 390, "height": 844}, storage_state=page.context.storage_state()
    )
    phone.goto(page.url)
    return phone


def wait_for_section(page, selector: str, timeout: float) -> None:
    """Reload the item page until `selector` is on it: finished results are drawn on a fresh page."""
    deadline = time.monotonic() + timeout
    while not page.locator(selector).count():
        assert time.monotonic() < deadline, page.inner_text("main")
        page.wait_for_timeout(1000)
        page.reload()


def log_in(page, site, email=EMAIL, password=PASSWORD):
    page.goto(f"{site}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{site}/videos")


def test_whole_flow_in_a_real_browser(site, browser, mailbox, talk, tmp_path):
    camera, mic = talk
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))

    # Sign up, then confirm from the mail the real SMTP server received.
    page.goto(f"{site}/signup")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    assert page.get_by_text("Check your inbox").is_visible()
    (message,) = mailbox.wait_for(1)
    link = re.search(r"https?://\S+/confirm/\S+", message.get_payload(decode=True).decode()).group(0)
    page.goto(site + urlsplit(link).path)
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{site}/videos")
    assert page.get_by_text("No recordings yet").is_visible()

    # A file that is not media is refused, and the reason shows in the form, in place.
    page.get_by_role("link", name="Upload", exact=True).first.click()
    notes = tmp_path / "notes.mp4"
    notes.write_text("meeting notes, not a video\n" * 100)
    page.get_by_label("Media file", exact=True).set_input_files(str(notes))
    page.get_by_role("button", name="Upload", exact=True).click()
    page.get_by_text("not a video or audio").wait_for()
    assert page.url == f"{site}/videos/new"
    errors.clear()  # the browser logs the refusal's 415 as a console error, as it should

    # Upload with all three jobs; the parameters show only once a job is ticked.
    assert not page.get_by_label("Shortest pause to cut (seconds)").is_visible()
    page.get_by_label("Media file", exact=True).set_input_files(str(camera))
    page.get_by_label("External audio", exact=True).set_input_files(str(mic))
    page.get_by_label("Sync external audio").check()
    page.get_by_label("Remove silence").check()
    assert page.get_by_label("Shortest pause to cut (seconds)").is_visible()
    page.get_by_label("Transcribe").check()
    shot(page, "upload")
    page.get_by_role("button", name="Upload", exact=True).click()
    page.wait_for_url(f"{site}/videos")
    assert page.get_by_text("Team talk.mp4").first.is_visible()

    # Watch the jobs: the page shows them waiting or running (a progress bar where one reports a
    # percentage), then every job done, and polling stops. A short clip's jobs may each finish
    # between two polls, so a bar part-way is not required, only work seen in progress.
    seen, states, shot_taken = set(), set(), False
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        values = page.eval_on_selector_all("progress.task-progress", "bars => bars.map(b => b.value)")
        seen.update(round(v, 1) for v in values)
        chips = page.eval_on_selector_all(".tasks .chip", "chips => chips.map(c => c.className)")
        states.update(c.split()[-1] for c in chips)
        if {"queued", "running"} & states and not shot_taken:
            shot(page, "library-running")
            shot_taken = True
        if chips and all("done" in c for c in chips):
            break
        if any("failed" in c for c in chips):
            pytest.fail(page.inner_text("#library"))
        time.sleep(0.1)
    else:
        pytest.fail("the jobs did not finish: " + page.inner_text("#library"))
    assert {"queued", "running"} & states, f"no job seen waiting or running: {states}"
    assert all(0 <= v <= 100 for v in seen), sorted(seen)
    assert shot_taken
    assert page.eval_on_selector("#library", "el => el.hasAttribute('hx-trigger')") is False

    # The item: players stream with Range, play, and carry the subtitles.
    ranges = []
    page.on("response", lambda r: "/files/" in r.url and ranges.append(r.status))
    page.get_by_role("link", name="Team talk.mp4").first.click()
    player = page.locator("#player-cut")
    player.wait_for()
    assert page.get_by_text("Silence removed").first.is_visible()
    assert page.get_by_text("Offset", exact=True).is_visible()
    assert page.get_by_text(re.compile(r"^strong match \(\d+\)$")).is_visible()
    assert page.get_by_text(re.compile(r"^(\d+) of \1 agree$")).is_visible()
    page.wait_for_function("() => document.querySelector('#player-cut').readyState >= 1")
    cues = page.wait_for_function(
        "() => { const t = document.querySelector('#player-cut').textTracks[0];"
        " t.mode = 'showing'; return t.cues && t.cues.length; }"
    ).json_value()
    assert cues > 0
    page.evaluate(
        "() => { const v = document.querySelector('#player-cut'); v.muted = true; v.currentTime = 4; }"
    )
    page.wait_for_function("() => document.querySelector('#player-cut').currentTime >= 4")
    page.evaluate("() => document.querySelector('#player-cut').play()")
    page.wait_for_function("() => document.querySelector('#player-cut').currentTime > 4.5", timeout=15000)
    assert 206 in ranges, ranges
    # A transcript timestamp seeks the player.
    page.locator("#transcript .timestamp").last.click()
    page.wait_for_function("() => document.querySelector('#player-cut').currentTime > 1")
    shot(page, "item")

    # Downloads work.
    with page.expect_download() as download:
        page.get_by_role("link", name="Download Subtitles for the cut").first.click()
    saved = tmp_path / "cut.srt"
    download.value.save_as(saved)
    assert "-->" in saved.read_text()

    # Export for editing: a timeline for DaVinci Resolve, downloaded as a zip with the recording.
    page.get_by_label("Editing program").select_option(label="DaVinci Resolve")
    page.get_by_role("button", name="Export", exact=True).click()
    wait_for_section(page, "#export .exports a", timeout=120)
    with page.expect_download() as download:
        page.locator("#export .exports a").first.click()
    assert download.value.suggested_filename == "Team talk - Final Cut Pro and DaVinci Resolve.zip"
    download.value.save_as(tmp_path / "export.zip")
    with zipfile.ZipFile(tmp_path / "export.zip") as archive:
        names = sorted(archive.namelist())
    assert names[0] == "Team talk/synced.mp4" and "Team talk/timeline.fcpxml" in names, names
    page.locator("#export").scroll_into_view_if_needed()
    shot(page, "item-export")

    # Phone width: nothing overflows.
    phone = browser.new_page(
        viewport={"width": 390, "height": 844}, storage_state=page.context.storage_state()
    )
    for name, path in (("library", "/videos"), ("upload", "/videos/new"), ("item", urlsplit(page.url).path)):
        phone.goto(site + path)
        no_overflow(phone)
        shot(phone, f"phone-{name}")

    # Dark mode follows the system setting.
    dark = browser.new_page(color_scheme="dark", storage_state=page.context.storage_state())
    dark.goto(page.url)
    background = dark.evaluate("() => getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(20, 21, 24)", background
    shot(dark, "item-dark")

    # Delete frees the space.
    page.goto(f"{site}/account")
    used_before = page.inner_text(".usage")
    page.go_back()
    page.get_by_text("Delete this recording").click()
    page.get_by_role("button", name="Yes, delete it").click()
    page.wait_for_url(f"{site}/videos")
    assert page.get_by_text("is deleted").is_visible()
    assert page.get_by_text("No recordings yet").is_visible()
    page.goto(f"{site}/account")
    assert "0 bytes of" in page.inner_text("main"), used_before
    assert not errors, errors


def test_library_pages_search_rename_and_local_times(gunicorn_server, browser, app, tmp_path):
    """20 finished items: the library shows them 12 a page in compact cards, in the browser's time
    zone (India here, UTC+5:30), and finds, pages and renames them."""
    from tests.helpers import make_user
    from tests.test_library import fill_library, make_poster
    from webapp.helpers import filesize

    site = f"http://{gunicorn_server}"
    user = make_user(app, email=EMAIL, password=PASSWORD)
    ids = fill_library(app, user.id, 20, make_poster(tmp_path))
    heights = {}
    screens = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
    for name, viewport in screens.items():
        context = browser.new_context(viewport=viewport, timezone_id="Asia/Kolkata")
        page = context.new_page()
        log_in(page, site)
        heights[name] = page.evaluate("() => document.documentElement.scrollHeight")
        no_overflow(page)
        shot(page, "library-20-items" if name == "desktop" else "phone-library-20-items")
        print(f"library with 20 items, {name} {viewport['width']} px wide: {heights[name]} px tall")
        assert page.locator("article.item").count() == 12
        # The newest was uploaded 22:15 UTC, which is 03:45 the next morning in India.
        newest = page.locator(f"#item-{ids[0]} time")
        assert newest.inner_text() == "2026-11-04 03:45"
        assert newest.get_attribute("title") == "2026-11-03 22:15 UTC"
        context.close()
    # A page of the library is at most a few screens long, on a phone too.
    assert heights["desktop"] < 3 * 900 and heights["phone"] < 5 * 844, heights

    context = browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id="Asia/Kolkata")
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, site)

    # Sizes read the same whether the server or the upload form's script writes them.
    sizes = [0, 1023, 1024, 1536, 1024**2 - 1, 5 * 1024**3, int(5.4 * 1024**3), 987_654_321_000]
    assert page.evaluate("sizes => sizes.map(formatBytes)", sizes) == [filesize(n) for n in sizes]

    # A fragment htmx swaps in (the library's poll) shows local times too.
    page.evaluate("() => htmx.ajax('GET', '/videos/live?page=2', {target: '#library', swap: 'outerHTML'})")
    swapped = page.locator(f"#item-{ids[12]} time")
    swapped.wait_for()
    assert swapped.inner_text() == "2026-11-03 15:45"  # 12 hours before the newest
    assert page.locator("#usage").count() == 1  # the poll's usage header replaced the page's

    # Pages, then search by name.
    page.goto(f"{site}/videos")
    page.get_by_role("link", name="Older →").click()
    assert page.locator("article.item").count() == 8 and "13–20 of 20" in page.inner_text("main")
    page.get_by_label("Search by name").fill("INTERVIEW")
    page.get_by_label("Search by name").press("Enter")
    page.wait_for_url(f"{site}/videos?q=INTERVIEW")
    assert page.locator("article.item").count() == 4
    shot(page, "library-search")

    # Rename on the item page: the new name shows there and in the library.
    page.get_by_role("link", name="Interview with Ana 3.mp4").click()
    page.get_by_text("Rename", exact=True).click()
    page.get_by_label("New name").fill("Ana, on sound <b>design</b>")
    shot(page, "item-rename")
    page.get_by_role("button", name="Save the name").click()
    assert page.get_by_role("heading", name="Ana, on sound <b>design</b>").is_visible()
    page.goto(f"{site}/videos?q=sound")
    assert page.locator("article.item h2").all_inner_texts() == ["Ana, on sound <b>design</b>"]
    assert not errors, errors
    context.close()


# --- syncfill ---


def test_item_page_says_where_the_camera_sound_fills_in(app, site, browser):
    """timbl_2 starts 12.254 s into timbl_1: the page names the camera-sound part, and the cut
    pauses are shaded over the waveform of the synced sound that was cut."""
    from tests.helpers import make_user

    make_user(app, email=EMAIL, password=PASSWORD)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    log_in(page, site)
    page.goto(f"{site}/videos/new")
    page.get_by_label("Media file", exact=True).set_input_files(str(ROOT / "tests/media/timbl_1.mp3"))
    page.get_by_label("External audio", exact=True).set_input_files(str(ROOT / "tests/media/timbl_2.mp3"))
    page.get_by_label("Sync external audio").check()
    page.get_by_label("Remove silence").check()
    page.get_by_role("button", name="Upload", exact=True).click()
    page.wait_for_url(f"{site}/videos")
    page.get_by_role("link", name="timbl_1.mp3").first.click()
    wait_for_section(page, "#silence", 180)

    assert page.locator("#sync").get_by_text("0:00–0:12").is_visible()
    image = page.locator("#silence svg.waveform image").get_attribute("href")
    assert image.endswith("/synced_waveform.png"), image
    shot(page, "item-camera-fill")
    phone = on_phone(browser, page)
    no_overflow(phone)
    shot(phone, "phone-item-camera-fill")


# --- upload (issue 10, items 6, 13, 17) ---


@pytest.fixture
def offline_site(app_env, tmp_path, request):
    """The site with no MAIL_SERVER, as on a laptop: mail goes to the outbox folder."""
    app_env.update({"MAIL_SERVER": "", "MAIL_OUTBOX": str(tmp_path / "outbox")})
    return request.getfixturevalue("site")


def chosen(page, label: str) -> int:
    """How many files the file input labelled `label` holds."""
    return page.get_by_label(label, exact=True).evaluate("input => input.files.length")


def test_upload_choices_are_checked_before_sending_and_run_again_starts_from_them(
    app, offline_site, browser, talk, tmp_path
):
    from tests.helpers import make_user

    site, (camera, mic) = offline_site, talk
    errors = []
    desktop = browser.new_context(viewport={"width": 1280, "height": 900})
    phone = browser.new_context(viewport={"width": 390, "height": 844})

    # Not confirmed yet: the library says so, with where the mail went, instead of an upload button.
    make_user(app, "new@example.com", PASSWORD, confirmed=False)
    for name, context in (("", desktop), ("phone-", phone)):
        page = context.new_page()
        log_in(page, site, "new@example.com", PASSWORD)
        assert page.get_by_role("heading", name="Confirm your email first").is_visible()
        assert page.get_by_text("outbox").first.is_visible()
        assert page.get_by_role("link", name="Upload your first recording").count() == 0
        no_overflow(page)
        shot(page, f"{name}library-unconfirmed")
        page.close()
    desktop.clear_cookies()
    phone.clear_cookies()

    make_user(app, EMAIL, PASSWORD)
    page = desktop.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
    log_in(page, site, EMAIL, PASSWORD)
    page.goto(f"{site}/videos/new")
    posts = []
    page.on("request", lambda r: r.method == "POST" and posts.append(r.url))

    # Sync ticked without an External audio: the browser refuses to send, says why, keeps the file.
    page.get_by_label("Media file", exact=True).set_input_files(str(camera))
    page.get_by_label("Sync external audio").check()
    page.get_by_role("button", name="Upload", exact=True).click()
    external = page.get_by_label("External audio", exact=True)
    message = external.evaluate("input => input.validationMessage")
    assert message == "To sync, add the External audio file as well."
    assert posts == [] and chosen(page, "Media file") == 1 and page.url == f"{site}/videos/new"

    # The server refuses an External audio that is not audio: its form comes back with the reason,
    # and the Media file is still chosen (only the refused file has to be chosen again).
    notes = tmp_path / "notes.wav"
    notes.write_text("meeting notes, not a recording\n" * 100)
    external.set_input_files(str(notes))
    page.get_by_role("button", name="Upload", exact=True).click()
    page.get_by_text("External audio:").wait_for()
    assert chosen(page, "Media file") == 1 and chosen(page, "External audio") == 0
    errors.clear()  # the browser logs the refusal's 415 as a console error, as it should
    page.get_by_label("External audio", exact=True).set_input_files(str(mic))
    assert page.get_by_text("External audio:").count() == 0  # the old reason went with the old file
    page.get_by_label("Remove silence").check()
    page.get_by_label("Margin kept around speech (seconds)").fill("0.3")
    shot(page, "upload-sync")
    page.get_by_role("button", name="Upload", exact=True).click()
    page.wait_for_url(f"{site}/videos")
    page.wait_for_function(
        "() => { const chips = [...document.querySelectorAll('.tasks .chip')];"
        " return chips.length && chips.every(c => /done|failed|cancelled/.test(c.className)); }",
        timeout=180_000,
    )
    assert page.locator(".tasks .chip.done").count() == page.locator(".tasks .chip").count()

    # Run again starts from what ran: sync and silence removal with its margin; not transcription.
    page.get_by_role("link", name="Team talk.mp4").first.click()
    page.get_by_role("link", name="Run again with other settings").click()
    assert page.get_by_label("Sync external audio").is_checked()
    assert page.get_by_label("Remove silence").is_checked()
    assert page.get_by_label("Margin kept around speech (seconds)").input_value() == "0.30"
    assert not page.get_by_label("Transcribe").is_checked()
    assert page.get_by_label("External audio", exact=True).is_visible()  # to replace it
    shot(page, "run-again")
    again = page.url
    phone.add_cookies(desktop.cookies())
    small = phone.new_page()
    for name, path in (("upload", "/videos/new"), ("run-again", urlsplit(again).path)):
        small.goto(site + path)
        small.get_by_label("Sync external audio").check()
        no_overflow(small)
        shot(small, f"phone-{name}-sync")
    assert not errors, errors


# --- progress: /stats on a phone ---
def test_stats_on_a_phone_scrolls_its_tables_and_shows_workers_to_admins_only(
    app, gunicorn_server, start, browser
):
    from tests.helpers import make_user

    site = f"http://{gunicorn_server}"
    start("worker.py", "media", "mail")
    make_user(app, email=EMAIL, password=PASSWORD)
    make_user(app, email="admin@example.com", password=PASSWORD, is_admin=True)
    for email, name in ((EMAIL, "phone-stats"), ("admin@example.com", "phone-stats-admin")):
        page = browser.new_page(viewport={"width": 390, "height": 844})
        page.goto(f"{site}/login")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{site}/videos")
        page.goto(f"{site}/stats")
        deadline = time.monotonic() + 30
        while "none listening" in page.inner_text("#queue-media .workers") and time.monotonic() < deadline:
            time.sleep(0.5)  # the worker is still starting; the figures are cached for a few seconds
            page.reload()
        no_overflow(page)
        # Each header and figure stays on one line; the table scrolls sideways instead.
        broken = page.eval_on_selector_all(
            "main table th, main table td",
            """cells => cells.filter(cell => {
                if (cell.children.length || !cell.textContent.trim()) return false;  // plain text cells
                const text = document.createRange();
                text.selectNodeContents(cell);
                return text.getClientRects().length > 1;  // one rectangle per line
            }).map(cell => cell.textContent.trim())""",
        )
        assert broken == [], f"{name}: cells wrapped over several lines: {broken}"
        shot(page, name)
        assert re.fullmatch(r"1 \(\d busy\)", page.inner_text("#queue-media .workers").strip().split("\n")[0])
        admin = email != EMAIL
        assert page.locator("#queue-media .worker-list li").count() == (1 if admin else 0)
        assert page.locator("#disk-total").count() == (1 if admin else 0)
        page.close()


def test_transcription_choices_and_a_recording_without_speech(app, site, browser, tmp_path):
    """transcribe: English shown fixed for the English-only model, the voice filter on by default,
    and an item whose recording has no speech says so instead of showing an empty transcript."""
    from tests.helpers import make_user
    from tests.media import make_silent_video

    make_user(app, email=EMAIL, password=PASSWORD)
    muted = make_silent_video(tmp_path / "Muted camera.mp4", seconds=3)
    item_url = None  # uploaded at desktop width, then seen again at phone width
    for width, height, prefix in ((1280, 900, ""), (390, 844, "phone-")):
        page = browser.new_page(viewport={"width": width, "height": height})
        log_in(page, site)
        page.goto(f"{site}/videos/new")
        page.get_by_label("Transcribe").check()
        language = page.get_by_label("Language")
        assert language.is_visible() and language.is_disabled()
        assert language.input_value() == "en"
        assert page.get_by_label("Skip non-speech (voice activity filter)").is_checked()
        no_overflow(page)
        shot(page, f"{prefix}upload-transcribe")
        if item_url:
            page.goto(item_url)
        else:
            page.get_by_label("Media file", exact=True).set_input_files(str(muted))
            page.get_by_role("button", name="Upload", exact=True).click()
            page.wait_for_url(f"{site}/videos")
            page.get_by_role("link", name="Muted camera.mp4").first.click()
            page.get_by_text("No speech was heard in this recording.").wait_for(timeout=120000)
            item_url = page.url
        assert page.get_by_text("No speech was heard in this recording.").is_visible()
        no_overflow(page)
        shot(page, f"{prefix}item-no-speech")
        page.close()


# --- containers ---


def test_item_page_names_the_tracks_a_cut_could_not_keep(gunicorn_server, start, browser, app, tmp_path):
    """A MOV with a timecode track, cut: the item page says the timecode track is not in the cut."""
    import subprocess

    from jobs.ffmpeg import ffmpeg_exe
    from tests.helpers import PASSWORD as USER_PASSWORD
    from tests.helpers import make_user
    from tests.media import make_talk

    site = f"http://{gunicorn_server}"
    start("worker.py", "media")
    make_user(app, email="tc@example.com")
    talk = make_talk(
        tmp_path / "talk.mp4", [(1.0, True), (2.0, False), (1.5, True), (1.0, False), (1.0, True)]
    )
    camera = tmp_path / "Interview.mov"
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(talk), "-c", "copy", "-timecode", "01:00:00:00", str(camera)],
        check=True,
    )
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    log_in(page, site, "tc@example.com", USER_PASSWORD)
    page.goto(f"{site}/videos/new")
    page.get_by_label("Media file", exact=True).set_input_files(str(camera))
    page.get_by_label("Remove silence").check()
    page.get_by_role("button", name="Upload", exact=True).click()
    page.wait_for_url(f"{site}/videos")
    page.get_by_role("link", name="Interview.mov").first.click()
    wait_for_section(page, "#silence", 240)
    note = page.locator("#silence .dropped")
    assert "data stream (eng, timecode 01:00:00:00)" in note.inner_text()
    shot(page, "item-dropped")
    phone = on_phone(browser, page)
    no_overflow(phone)
    shot(phone, "phone-item-dropped")


# --- proxy ---


def wait_for_jobs(page, timeout: float = 240) -> None:
    """Wait on the library until every job chip is done."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        chips = page.eval_on_selector_all(".tasks .chip", "chips => chips.map(c => c.className)")
        if chips and all("done" in c for c in chips):
            return
        if any("failed" in c for c in chips):
            pytest.fail(page.inner_text("#library"))
        time.sleep(0.2)
    pytest.fail("the jobs did not finish: " + page.inner_text("#library"))


def plays(page, selector: str) -> dict:
    """Start the player (muted) and wait until it has decoded a frame; its state then."""
    page.evaluate(f"() => {{ const p = document.querySelector('{selector}'); p.muted = true; p.play(); }}")
    page.wait_for_function(f"() => document.querySelector('{selector}').currentTime > 0.5", timeout=20000)
    return page.eval_on_selector(
        selector, "p => ({ready: p.readyState, width: p.videoWidth || 0, error: p.error && p.error.code})"
    )


def test_hevc_and_alac_uploads_play_through_their_browser_previews(app, site, browser, tmp_path):
    from tests.helpers import PASSWORD as USER_PASSWORD
    from tests.helpers import make_user
    from tests.media import make_alac, make_hevc
    from webapp import db
    from webapp.models import Item
    from webapp.storage import item_dir

    # 3 s: the players only have to start; 1080p HEVC and its preview are slow to encode.
    hevc = make_hevc(tmp_path / "Phone clip.mp4", seconds=3)
    alac = make_alac(tmp_path / "Voice memo.m4a", seconds=3)
    make_user(app, email="hedy@example.com")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    log_in(page, site, "hedy@example.com", USER_PASSWORD)
    for path in (hevc, alac):
        page.goto(f"{site}/videos/new")
        page.get_by_label("Media file", exact=True).set_input_files(str(path))
        page.get_by_role("button", name="Upload", exact=True).click()
        page.wait_for_url(f"{site}/videos")
    wait_for_jobs(page)

    # The HEVC video plays, through its H.264 preview, at desktop and phone width.
    page.get_by_role("link", name="Phone clip.mp4").first.click()
    state = plays(page, "#player-original")
    assert state["ready"] >= 2 and state["width"] == 1280 and state["error"] is None, state
    assert page.locator(".player-problem").count() == 0
    shot(page, "item-hevc-preview")
    phone = on_phone(browser, page)
    plays(phone, "#player-original")
    no_overflow(phone)
    shot(phone, "phone-item-hevc-preview")
    hevc_url = page.url

    # The ALAC recording plays through its AAC preview.
    page.goto(f"{site}/videos")
    page.get_by_role("link", name="Voice memo.m4a").first.click()
    state = plays(page, "#player-original")
    assert state["ready"] >= 2 and state["error"] is None, state

    # Without their previews (items prepared before there were any), the players say why they fail.
    def without_preview(url: str) -> None:
        with app.app_context():
            item = db.session.get(Item, url.rstrip("/").rsplit("/", 1)[-1])
            proxy = item.file("original_proxy")
            (item_dir(item) / proxy.name).unlink()
            item.files.remove(proxy)
            db.session.commit()
        page.goto(url)
        page.locator(".player-problem").wait_for()

    without_preview(page.url)
    assert page.eval_on_selector("#player-original", "p => p.error && p.error.code") == 4  # no ALAC here
    assert "cannot play this file's format. Download it to watch it." in page.inner_text(".player-problem")
    without_preview(hevc_url)
    state = page.eval_on_selector(
        "#player-original", "p => ({width: p.videoWidth || 0, error: p.error && p.error.code})"
    )
    assert state == {"width": 0, "error": None}, state  # the sound plays, the HEVC picture does not
    assert "only the sound of this file" in page.inner_text(".player-problem")
    shot(page, "item-hevc-no-preview")
    phone.goto(hevc_url)
    phone.locator(".player-problem").wait_for()
    no_overflow(phone)
    shot(phone, "phone-item-hevc-no-preview")


# --- resumable uploads and batches (issue 15) ---


def test_a_batch_upload_makes_an_item_per_file_with_its_own_bar_and_error(app, site, browser, tmp_path):
    from tests.helpers import make_user
    from tests.media import make_text_file, make_video

    make_user(app, EMAIL, PASSWORD)
    files = [make_video(tmp_path / "Monday.mp4", seconds=2), make_video(tmp_path / "Tuesday.mp4", seconds=3)]
    files.append(make_text_file(tmp_path / "notes.mp4"))
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, site)
    page.goto(f"{site}/videos/new")
    media = page.get_by_label("Media file", exact=True)
    media.set_input_files([str(f) for f in files])
    assert page.get_by_text("3 files · ").is_visible()
    page.get_by_label("Remove silence").check()
    page.get_by_role("button", name="Upload", exact=True).click()

    # Each file its own row and bar; the two recordings are uploaded, the text file refused with why.
    page.get_by_text("2 of 3 files are uploaded").wait_for()
    rows = page.locator(".upload-files li")
    assert rows.count() == 3 and page.locator(".upload-files progress").count() == 3
    assert "Uploaded; its jobs are queued." in rows.nth(0).inner_text()
    assert "Uploaded; its jobs are queued." in rows.nth(1).inner_text()
    assert "not a video or audio" in rows.nth(2).inner_text()
    shot(page, "upload-batch")
    page.set_viewport_size({"width": 390, "height": 844})
    no_overflow(page)
    shot(page, "phone-upload-batch")

    # The library shows both items as one batch, and the chip lists just them.
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{site}/videos")
    chips = page.get_by_role("link", name="batch of 2")
    assert chips.count() == 2
    shot(page, "library-batch")
    chips.first.click()
    page.get_by_text("The 2 items uploaded in one batch").wait_for()
    titles = page.locator("#library .item-title").all_inner_texts()
    assert sorted(titles) == ["Monday.mp4", "Tuesday.mp4"]
    assert not errors, errors


def test_an_interrupted_upload_resumes_where_the_server_stopped(app, site, browser, talk):
    from tests.helpers import make_user
    from webapp.models import Item

    camera, _ = talk
    make_user(app, EMAIL, PASSWORD)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    log_in(page, site)
    page.goto(f"{site}/videos/new")
    # Small chunks, so the file takes several PATCH requests; the second one's connection fails.
    page.eval_on_selector("#upload-form", "form => form.dataset.tusChunk = String(64 * 1024)")
    sent = []

    def flaky(route):
        request = route.request
        sent.append(request.method)
        if request.method == "PATCH" and sent.count("PATCH") == 2:
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/videos/uploads/*", flaky)
    page.get_by_label("Media file", exact=True).set_input_files(str(camera))
    page.get_by_role("button", name="Upload", exact=True).click()
    page.get_by_text("The connection broke off; trying again").wait_for()
    shot(page, "upload-resuming")
    page.wait_for_url(f"{site}/videos", timeout=60_000)

    size = camera.stat().st_size
    assert sent.count("PATCH") == -(-size // (64 * 1024)) + 1  # every chunk once, one of them twice
    assert "HEAD" in sent[sent.index("PATCH") :]  # it asked the server where to go on
    with app.app_context():
        from webapp import db

        item = db.session.scalar(db.select(Item))
        assert item.title == camera.name and item.file("original").size == size
    remembered = page.evaluate("() => Object.keys(localStorage).filter(k => k.startsWith('cutroom-tus'))")
    assert remembered == []  # a finished upload is not resumed again

    # Once more, and the network goes away after the first chunk: after a reload, choosing the same
    # file goes on from the server's offset (the upload's URL was kept in localStorage).
    page.unroute("**/videos/uploads/*")
    page.goto(f"{site}/videos/new")
    page.eval_on_selector("#upload-form", "form => form.dataset.tusChunk = String(64 * 1024)")
    patches = []

    def offline_after_one(route):
        if route.request.method == "PATCH":
            patches.append(route.request.headers["upload-offset"])
            if len(patches) > 1:
                return route.abort("internetdisconnected")
        return route.continue_()

    page.route("**/videos/uploads/*", offline_after_one)
    page.get_by_label("Media file", exact=True).set_input_files(str(camera))
    page.get_by_role("button", name="Upload", exact=True).click()
    page.get_by_text("The connection broke off; trying again").wait_for()
    page.unroute("**/videos/uploads/*")
    page.reload()
    page.eval_on_selector("#upload-form", "form => form.dataset.tusChunk = String(64 * 1024)")
    resumed = []
    page.on("request", lambda r: r.method == "PATCH" and resumed.append(r.headers["upload-offset"]))
    page.get_by_label("Media file", exact=True).set_input_files(str(camera))
    page.get_by_role("button", name="Upload", exact=True).click()
    page.wait_for_url(f"{site}/videos", timeout=60_000)
    assert patches[0] == "0" and resumed[0] == str(64 * 1024)  # not from the start
    with app.app_context():
        from webapp import db

        items = db.session.scalars(db.select(Item)).all()
        assert [item.file("original").size for item in items] == [size, size]

    # Once more, and the answer to the last chunk is lost on its way back (the server has every
    # byte and made the item): the page asks where the upload is, learns it is done, and does not
    # send the file again.
    page.goto(f"{site}/videos/new")
    page.eval_on_selector("#upload-form", "form => form.dataset.tusChunk = String(64 * 1024)")
    lost = []

    def answer_lost_at_the_end(route):
        request = route.request
        if request.method == "PATCH" and int(request.headers["upload-offset"]) + 64 * 1024 >= size:
            lost.append(route.fetch().status)  # it reached the server ...
            return route.abort("connectionreset")  # ... but the page never hears back
        return route.continue_()

    page.route("**/videos/uploads/*", answer_lost_at_the_end)
    page.get_by_label("Media file", exact=True).set_input_files(str(camera))
    page.get_by_role("button", name="Upload", exact=True).click()
    page.wait_for_url(f"{site}/videos", timeout=60_000)
    assert lost == [204]
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Item.id))) == 3


@pytest.fixture
def private_webhooks(app_env):
    """Webhooks to loopback allowed, as an operator on a private network would; request it first."""
    app_env["WEBHOOK_ALLOW_PRIVATE"] = "1"


def test_account_page_makes_a_token_and_a_webhook_and_logs_its_deliveries(
    private_webhooks, app, gunicorn_server, start, browser
):
    import requests

    from tests.helpers import make_user

    site = f"http://{gunicorn_server}"
    start("worker.py", "webhooks")
    make_user(app, EMAIL, PASSWORD)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, site)
    page.goto(f"{site}/account")
    assert page.get_by_text("No tokens yet.").is_visible()

    # A token is shown once, works against the API, and is listed by name.
    page.get_by_label("Token name").fill("backup script")
    page.get_by_label("Scope").select_option("read")
    page.get_by_role("button", name="Make token").click()
    token = page.locator("#new-token code.token").inner_text()
    assert token.startswith("crt_")
    assert page.locator("table.tokens").get_by_text("backup script").is_visible()
    api = {"Authorization": f"Bearer {token}"}
    assert requests.get(f"{site}/api/v1/account", headers=api, timeout=10).status_code == 200

    # A webhook to a port nobody listens on: its test event is tried, and the log says what happened.
    page.get_by_label("Webhook URL").fill("http://127.0.0.1:9/cutroom")
    page.get_by_label("Item ready (all its tasks finished)").check()
    page.get_by_role("button", name="Add webhook").click()
    page.get_by_text("Webhook added.").wait_for()
    assert page.locator("code.secret").inner_text().startswith("whsec_")
    page.get_by_role("button", name="Send a test event").click()
    page.get_by_text("Test event").first.wait_for()
    deadline = time.monotonic() + 30
    while "none yet" in page.locator("table.deliveries").inner_text():
        assert time.monotonic() < deadline, page.locator("table.deliveries").inner_text()
        page.wait_for_timeout(500)
        page.reload()
    log = page.locator("table.deliveries").inner_text()
    assert "webhook.test" in log and "Connection refused" in log and "pending (1 attempt)" in log, log
    assert page.get_by_text(token).count() == 0  # shown once only
    shot(page, "account-api")
    phone = on_phone(browser, page)
    no_overflow(phone)
    shot(phone, "phone-account-api")

    # Revoked, the token is refused at once.
    page.get_by_role("button", name="Revoke backup script").click()
    page.get_by_text("is revoked").wait_for()
    assert requests.get(f"{site}/api/v1/account", headers=api, timeout=10).status_code == 401
    assert not errors, errors
