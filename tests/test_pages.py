"""Pages as a person meets them: one poll per library page, empty states, error pages, htmx upload."""

import re

from tests.helpers import csrf_from, make_user
from tests.media import make_video
from tests.test_uploads import upload


def test_empty_library_says_how_to_start(client, logged_in):
    page = client.get("/videos").get_data(as_text=True)
    assert "No recordings yet" in page and 'href="/videos/new"' in page
    assert "hx-trigger" not in page


def test_an_unconfirmed_library_says_to_confirm_first_instead_of_offering_an_upload(app, client, auth):
    make_user(app, confirmed=False)
    auth.login()
    page = client.get("/videos").get_data(as_text=True)
    assert "Confirm your email first" in page and "Send the link again" in page
    assert "Upload your first recording" not in page
    assert 'class="button" href="/videos/new"' not in page  # no upload button that leads nowhere
    # Mail goes to a real server in these tests: no word of an outbox.
    assert "outbox" not in page


def test_a_busy_library_polls_once_for_the_whole_page(app, client, logged_in, tmp_path):
    video = make_video(tmp_path / "v.mp4", seconds=1)
    for _ in range(3):
        assert upload(client, video).status_code == 303
    page = client.get("/videos").get_data(as_text=True)
    assert page.count('hx-trigger="every 1s"') == 1
    assert page.count('class="item"') == 3
    fragment = client.get("/videos/live").get_data(as_text=True)
    assert fragment.lstrip().startswith('<div id="library"') and fragment.count('class="item"') == 3
    assert page.count("in line for processing") == 3
    assert "1st in line for processing" in page and "3rd in line for processing" in page


def test_error_pages_share_the_design_and_say_what_to_do(client, logged_in):
    response = client.get("/videos/doesnotexist")
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert 'class="card narrow error-page"' in html and "Back to Cutroom" in html
    assert "It may have been deleted" in html


def test_htmx_upload_is_told_where_to_go(client, logged_in, tmp_path):
    video = make_video(tmp_path / "v.mp4", seconds=1)
    token = csrf_from(client.get("/videos/new"))
    with open(video, "rb") as f:
        response = client.post(
            "/videos/new",
            data={"csrf_token": token, "media": (f, "v.mp4")},
            headers={"HX-Request": "true"},
            content_type="multipart/form-data",
        )
    response.request.input_stream.close()
    assert response.status_code == 200 and response.headers["HX-Redirect"] == "/videos"


def test_upload_form_offers_jobs_with_labels_and_no_inline_script(client, logged_in):
    html = client.get("/videos/new").get_data(as_text=True)
    for label in ("Media file", "External audio", "Remove silence", "Sync external audio", "Transcribe"):
        assert re.search(rf"<label[^>]*>\s*(<input[^>]*>\s*)?{label}</label>", html), label
    assert "<script>" not in html and " onclick=" not in html and "style=" not in html
