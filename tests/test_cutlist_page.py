"""The "Silence removed" card of a real recording: one count of pauses, lengths as a player shows
them, and counts that read as English."""

import re
from pathlib import Path

from flask import render_template_string

from tests.test_pipeline_jobs import duration_of, submit
from webapp import db
from webapp.models import Item
from webapp.storage import item_dir

EXAMPLE = Path(__file__).parent / "media" / "example.mp4"


def figure(html: str, name: str) -> str:
    return re.search(rf"<dt>{name}</dt><dd>([^<]*)</dd>", html).group(1)


def test_the_cut_list_counts_the_pauses_it_lists_and_lengths_read_as_a_player_shows_them(
    app, client, logged_in, run_worker
):
    submit(client, EXAMPLE, silence=True)
    run_worker("media")
    with app.app_context():
        item = db.session.scalar(db.select(Item))
        cut = item_dir(item) / item.file("cut").name
        item_id, cutlist = item.id, item.result("silence")["cutlist"]
    html = client.get(f"/videos/{item_id}").get_data(as_text=True)

    rows = re.findall(r"<tr><td>([\d.]+) s</td><td>([\d.]+) s</td><td>([\d.]+) s</td></tr>", html)
    pauses = int(figure(html, "Pauses cut"))
    assert pauses == len(rows) == len(cutlist["removed"]) > 1
    summary = re.search(r"<summary>Cut list \(([^)]*)\)</summary>", html).group(1)
    assert summary == f"{pauses} pauses cut"
    for start, end, length in rows:
        assert abs(float(end) - float(start) - float(length)) < 0.011

    # Whole seconds, rounded down as players count: the cut file's own length, read back.
    seconds = int(duration_of(cut))
    assert figure(html, "New length") == f"0:{seconds:02d}"
    assert figure(html, "Original length") == f"0:{int(duration_of(EXAMPLE)):02d}"  # 42.4 s: 0:42


def test_counts_read_as_english_and_the_pause_setting_says_what_margins_do(app, client, logged_in):
    with app.test_request_context():
        one, two = render_template_string("{{ 1|plural('word') }}, {{ 2|plural('word') }}").split(", ")
        assert (one, two) == ("1 word", "2 words")
        assert render_template_string("{{ 1|plural('pause') }} cut") == "1 pause cut"
        assert render_template_string("{{ 17.83|duration }}") == "0:17"
    form = client.get("/videos/new").get_data(as_text=True)
    assert "a 0.5 s pause with 0.2 s margins loses 0.1 s" in form
