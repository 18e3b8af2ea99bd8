"""Browser previews: an upload or a result that browsers cannot play gets a light H.264/AAC proxy
that the item page's players use, while downloads still give the real files."""

import hashlib
import re
from pathlib import Path

import pytest

from jobs.probe import probe
from jobs.proxy import PROXY_HEIGHT, browser_plays, proxy_if_needed
from tests.media import EXAMPLE, make_alac, make_audio, make_hevc, make_video
from tests.test_pipeline_jobs import submit
from tests.test_uploads import set_quota, upload
from webapp import db
from webapp.models import Item, Task, used_bytes
from webapp.storage import item_dir

MP3 = EXAMPLE.with_name("timbl_1.mp3")
# Long enough for sync to confirm its match along the overlap (it checks 4 s stretches: two here),
# short because encoding HEVC at 1080p is slow.
CLIP = 10.0


@pytest.fixture(scope="session")
def unplayable(tmp_path_factory):
    """An HEVC MP4 at 1080p (as phones record) and an ALAC M4A, both cut from example.mp4."""
    folder = tmp_path_factory.mktemp("unplayable")
    return make_hevc(folder / "phone.mp4", seconds=CLIP), make_alac(folder / "voice.m4a", seconds=CLIP)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def test_browsers_play_h264_aac_and_mp3_but_not_hevc_or_alac(unplayable):
    hevc, alac = unplayable
    assert browser_plays(probe(EXAMPLE)) and browser_plays(probe(MP3))
    assert not browser_plays(probe(hevc)) and not browser_plays(probe(alac))


def test_proxies_copy_the_streams_browsers_decode_and_encode_the_rest(tmp_path):
    # One second each: ProRes at 1080p is slow to make.
    obs = make_video(tmp_path / "obs.mkv", seconds=1, size="1920x1080")  # H.264 and AAC in Matroska
    prores = make_video(tmp_path / "edit.mov", seconds=1, size="1080x1920", codec="prores_ks")  # upright
    float_wav = make_audio(tmp_path / "float.wav", seconds=1, codec="pcm_f32le")
    proxies = {}
    for path in (obs, prores, float_wav):
        assert not browser_plays(probe(path)), path.name
        proxies[path.name] = proxy = probe(tmp_path / proxy_if_needed(path, tmp_path))
        assert browser_plays(proxy) and abs(proxy.duration - 1.0) < 0.1, (path.name, proxy)
    # The H.264 picture is copied as it is (full size, no loss); only the container changes.
    assert (proxies["obs.mkv"].video.codec, proxies["obs.mkv"].video.width) == ("h264", 1920)
    # ProRes is encoded, its shorter side brought to 720 with the shape kept.
    assert (proxies["edit.mov"].video.width, proxies["edit.mov"].video.height) == (720, 1280)
    assert proxies["float.wav"].video is None and proxies["float.wav"].audio.codec == "aac"


def player_source(page: str, role: str) -> str:
    """The name of the file the item page's player of `role` plays."""
    return re.search(rf'id="player-{role}"[^>]*\ssrc="[^"]*/files/([^"]+)"', page).group(1)


def only_item() -> Item:
    return db.session.scalar(db.select(Item))


def test_hevc_upload_and_its_synced_result_get_h264_proxies_the_players_use(
    app, client, logged_in, unplayable, run_worker
):
    hevc, alac = unplayable
    # The ALAC track is the camera's own sound: sync finds it at offset 0 and writes HEVC again.
    submit(client, hevc, alac, sync=True)
    run_worker("media")
    with app.app_context():
        item = only_item()
        assert [t.status for t in item.tasks] == [Task.DONE, Task.DONE], [t.error for t in item.tasks]
        folder, item_id = item_dir(item), item.id
        for role in ("original_proxy", "synced_proxy"):
            proxy = probe(folder / item.file(role).name)
            assert proxy.container == "mp4" and proxy.video.codec == "h264" and proxy.audio.codec == "aac"
            assert proxy.video.pix_fmt == "yuv420p" and proxy.video.height == PROXY_HEIGHT == 720
            assert proxy.video.width == 1280  # the shape kept
            assert abs(proxy.duration - CLIP) < 0.1 and browser_plays(proxy)
        assert item.file("external_proxy") is None  # the external track is never played
        assert item.file("original_proxy").category == "previews"
        assert item.file("synced_proxy").category == "results"
        assert used_bytes(item.user_id) == sum(f.size for f in item.files)
        names = {
            role: item.file(role).name for role in ("original", "synced", "original_proxy", "synced_proxy")
        }

    page = client.get(f"/videos/{item_id}").get_data(as_text=True)
    assert player_source(page, "synced") == names["synced_proxy"]
    assert player_source(page, "original") == names["original_proxy"]
    assert "Browser preview of the original" in page  # listed with the downloads, for what it is

    # Downloads give the real files, byte for byte.
    response = client.get(f"/videos/{item_id}/files/{names['original']}?download=1")
    body = response.data
    response.close()
    assert response.status_code == 200 and hashlib.sha256(body).hexdigest() == sha256(hevc)
    assert probe(folder / names["synced"]).video.codec == "hevc"


def test_alac_upload_gets_an_aac_proxy(app, client, logged_in, unplayable, run_worker):
    _, alac = unplayable
    submit(client, alac)
    run_worker("media")
    with app.app_context():
        item = only_item()
        assert item.tasks[0].status == Task.DONE, item.tasks[0].error
        proxy = probe(item_dir(item) / item.file("original_proxy").name)
        assert proxy.video is None and proxy.audio.codec == "aac" and proxy.container == "m4a"
        assert abs(proxy.duration - CLIP) < 0.1
        item_id, proxy_name = item.id, item.file("original_proxy").name
    page = client.get(f"/videos/{item_id}").get_data(as_text=True)
    assert "<audio" in page and player_source(page, "original") == proxy_name


def test_what_browsers_play_gets_no_proxy(app, client, logged_in, run_worker):
    submit(client, MP3)
    run_worker("media")
    with app.app_context():
        item = only_item()
        assert item.tasks[0].status == Task.DONE
        assert [f.role for f in item.files] == ["original", "waveform"]


def test_a_preview_that_could_pass_the_quota_is_not_made(app, client, logged_in, unplayable, run_worker):
    hevc, _ = unplayable
    quota = hevc.stat().st_size + 100_000  # room for the upload, its poster and waveform; not a preview
    set_quota(app, logged_in.email, quota)
    assert upload(client, hevc).status_code == 303
    run_worker("media")
    with app.app_context():
        item = only_item()
        (task,) = item.tasks
        assert task.status == Task.FAILED
        assert task.error.startswith("This job was not started: its results would take about")
        assert used_bytes(item.user_id) <= quota
