"""Every output gets codecs its container holds: the command line for each extension it accepts, its
refusals, and the tracks beside the main picture and sound (subtitles cut to match, extra sound)."""

import json
import subprocess
from pathlib import Path

import av
import pytest

from jobs.__main__ import main
from jobs.containers import AUDIO_EXTENSIONS, CONTAINERS, VIDEO_EXTENSIONS
from jobs.cutlist import CutList
from jobs.ffmpeg import ffmpeg_exe
from tests.helpers import ROOT
from tests.media import espeak_exe, make_subtitled, make_talk

MEDIA = ROOT / "tests" / "media"
TIMBL_1, TIMBL_2 = MEDIA / "timbl_1.mp3", MEDIA / "timbl_2.mp3"
TIMBL_OFFSET = 12.254  # timbl_2 starts this far into timbl_1 (tests/media/README.md)
# What ffprobe calls the codec each table entry writes.
PROBED = {"pcm_s16le": "pcm_s16le", "pcm_s16be": "pcm_s16be"}
# Sound on and off: kept 0-1.2, 2.8-4.7, 5.3-6.5 with the default margin of 0.2 s.
PATTERN = [(1.0, True), (2.0, False), (1.5, True), (1.0, False), (1.0, True)]
CUES = [(0.2, 0.8, "First."), (3.2, 4.2, "Second."), (5.6, 6.2, "Third.")]


def codecs(path: Path, kind: str) -> list[str]:
    """The codec of each `kind` ("video", "audio", "subtitle") stream of `path`, as FFmpeg reads it."""
    with av.open(str(path)) as container:
        return [s.codec_context.codec.canonical_name for s in container.streams if s.type == kind]


def duration(path: Path) -> float:
    with av.open(str(path)) as container:
        return container.duration / av.time_base


def cues(path: Path) -> list[tuple[float, float]]:
    """(start, end) of every cue of the first subtitle track, as ffmpeg reads them back."""
    srt = subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(path), "-map", "0:s:0", "-f", "srt", "-"],
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    times = []
    for line in srt.splitlines():
        if "-->" in line:
            times.append(tuple(_seconds(part.strip()) for part in line.split("-->")))
    return times


def _seconds(stamp: str) -> float:
    hours, minutes, seconds = stamp.replace(",", ".").split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(arg) for arg in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def talk(tmp_path_factory) -> Path:
    return make_talk(tmp_path_factory.mktemp("talk") / "talk.mp4", PATTERN)


@pytest.fixture(scope="module")
def subtitled(talk) -> Path:
    """The talk in Matroska with an English SRT track and a second microphone's sound track."""
    return make_subtitled(talk.with_name("subtitled.mkv"), talk, CUES, second_sound=True)


@pytest.mark.parametrize("extension", AUDIO_EXTENSIONS)
def test_sync_writes_each_sound_extension(extension, capsys, tmp_path):
    out = tmp_path / f"synced{extension}"

    code, stdout, stderr = cli(capsys, "sync", TIMBL_1, TIMBL_2, out, "--json", tmp_path / "sync.json")

    assert code == 0, stderr
    assert "offset +12254" in stdout
    assert codecs(out, "audio") == [PROBED.get(CONTAINERS[extension].audio, CONTAINERS[extension].audio)]
    assert abs(duration(out) - 48.0) < 0.1  # as long as the primary, timbl_1
    assert json.loads((tmp_path / "sync.json").read_text())["dropped"] == []


needs_speech = pytest.mark.skipif(espeak_exe() is None, reason="espeak-ng is needed for the camera pair")


@needs_speech
@pytest.mark.parametrize("extension", VIDEO_EXTENSIONS)
def test_sync_writes_each_picture_extension(extension, recording, capsys, tmp_path):
    camera, mic = recording
    out = tmp_path / f"synced{extension}"

    code, stdout, stderr = cli(capsys, "sync", camera, mic, out)

    if extension == ".webm":  # the H.264 picture is copied, and WebM does not carry H.264
        assert code == 2 and "cannot carry this recording's h264 picture" in stderr
        assert ".mkv" in stderr and not out.exists()
        return
    assert code == 0, stderr
    assert codecs(out, "video") == ["h264"]
    assert codecs(out, "audio") == [CONTAINERS[extension].audio]
    assert abs(duration(out) - 24.0) < 0.1


# The WebM pair is the start of `recording`: VP9 encoding is slow, and 10 s hold a few pauses to cut.
WEBM_SECONDS = 10.0


@pytest.fixture(scope="module")
def webm_pair(recording, tmp_path_factory) -> tuple[Path, Path]:
    """The camera recording's first WEBM_SECONDS as a small VP8 + Opus WebM, as a browser's recorder
    writes, and the microphone's recording (which starts 0.75 s earlier) cut to cover it."""
    camera, mic = recording
    folder = tmp_path_factory.mktemp("webm")
    webm_camera, short_mic = folder / "camera.webm", folder / "mic.wav"
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-t", str(WEBM_SECONDS), "-i", str(camera), "-vf", "scale=160:120"]
        + ["-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-c:a", "libopus", str(webm_camera)],
        check=True,
    )
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-t", str(WEBM_SECONDS + 1), "-i", str(mic), str(short_mic)], check=True
    )
    return webm_camera, short_mic


@needs_speech
def test_sync_into_webm_keeps_a_webm_picture_and_gives_it_opus(webm_pair, capsys, tmp_path):
    webm_camera, mic = webm_pair
    out = tmp_path / "synced.webm"

    code, _, stderr = cli(capsys, "sync", webm_camera, mic, out)

    assert code == 0, stderr
    assert codecs(out, "video") == ["vp8"] and codecs(out, "audio") == ["opus"]


@pytest.mark.parametrize("extension", AUDIO_EXTENSIONS)
def test_silence_writes_each_sound_extension(extension, capsys, tmp_path):
    out = tmp_path / f"cut{extension}"

    code, stdout, stderr = cli(capsys, "silence", TIMBL_1, out, "--json", tmp_path / "cut.json")

    assert code == 0, stderr
    figures = json.loads((tmp_path / "cut.json").read_text())
    container = CONTAINERS[extension]
    # An MP3 source keeps MP3 where the container holds it; elsewhere the container's own codec.
    expected = "mp3" if "mp3" in container.keeps_audio else container.audio
    assert codecs(out, "audio") == [PROBED.get(expected, expected)]
    assert figures["removed_seconds"] > 0.5
    assert abs(duration(out) - figures["kept_duration"]) < 0.1


@pytest.mark.parametrize("extension", VIDEO_EXTENSIONS)
def test_silence_writes_each_picture_extension_with_its_tracks(extension, subtitled, capsys, tmp_path):
    out = tmp_path / f"cut{extension}"

    code, stdout, stderr = cli(capsys, "silence", subtitled, out, "--json", tmp_path / "cut.json")

    assert code == 0, stderr
    result = json.loads((tmp_path / "cut.json").read_text())
    container = CONTAINERS[extension]
    assert codecs(out, "video") == [container.video]
    assert codecs(out, "audio") == [container.audio] * 2  # the second microphone, cut along
    if container.video != "h264":  # GOPs are copied only into a container whose picture is H.264
        assert result["render"]["mode"] == "reencode"
        assert result["render"]["fallback_reason"] == "a .webm file holds vp9, so no H.264 GOP is copied"
    assert abs(duration(out) - result["kept_duration"]) < 0.1
    if not container.subtitles:
        assert result["dropped"] == ["subtitle track 1 (subrip, eng)"]
        assert "not kept: subtitle track 1 (subrip, eng)" in stdout
        return
    assert result["dropped"] == []
    assert codecs(out, "subtitle") == [container.subtitles[0]]
    # Every cue moved with the cuts: where the cut list puts its start and end, within a frame.
    cut = CutList.from_dict(result["cutlist"])
    expected = [cut.map_span(start, end) for start, end, _ in CUES]
    found = cues(out)
    assert len(found) == len(expected)
    for (start, end), (want_start, want_end) in zip(found, expected, strict=True):
        assert abs(start - want_start) < 0.04 and abs(end - want_end) < 0.04, (found, expected)
    assert found[1][0] < CUES[1][0] - 1.0  # the 1.6 s pause before it was cut


def test_silence_on_the_real_example_into_matroska(capsys, tmp_path):
    out = tmp_path / "cut.mkv"

    code, _, stderr = cli(capsys, "silence", MEDIA / "example.mp4", out, "--json", tmp_path / "cut.json")

    assert code == 0, stderr
    result = json.loads((tmp_path / "cut.json").read_text())
    assert codecs(out, "video") == ["h264"] and codecs(out, "audio") == ["aac"]
    assert abs(duration(out) - result["kept_duration"]) < 0.1
    # Whole GOPs copied into Matroska pass the check (it reads Matroska's own track lengths).
    assert result["render"]["mode"] == "smart", result["render"]


@pytest.mark.parametrize(
    "args, says, names",
    [
        (["sync", TIMBL_1, TIMBL_2, "{out}/out.xyz"], "cannot write a .xyz file", [".mp3", ".m4a", ".mp4"]),
        (["silence", MEDIA / "example.mp4", "{out}/cut.mp3"], "holds sound only", [".mp4", ".mkv", ".webm"]),
        (["sync", TIMBL_1, TIMBL_2, "{out}/s.wav", "--keep-camera-audio"], "holds one sound track", [".m4a"]),
        (["silence", TIMBL_1, "{out}/cut"], "(no extension)", [".mp3", ".wav"]),
    ],
    ids=["unknown", "picture-into-mp3", "two-tracks-into-wav", "no-extension"],
)
def test_an_unfit_output_is_refused_before_any_work(args, says, names, capsys, tmp_path):
    code, stdout, stderr = cli(capsys, *[str(a).format(out=tmp_path) for a in args])

    assert code == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], stderr
    assert "Name the output with one of:" in lines[0] and all(name in lines[0] for name in names)
    assert stdout == "" and list(tmp_path.iterdir()) == []


def test_refusal_comes_before_reading_the_other_file(capsys, tmp_path):
    """Sync refuses the output before the offset search: the missing match is never looked for."""
    unrelated = make_talk(tmp_path / "unrelated.wav", PATTERN, video=False)

    code, _, stderr = cli(capsys, "sync", MEDIA / "example.mp4", unrelated, tmp_path / "out.mp3")

    assert code == 2 and "holds sound only" in stderr


def test_silence_of_a_timecoded_mov_says_what_it_dropped(talk, capsys, tmp_path):
    timecoded = tmp_path / "camera.mov"
    subprocess.run(
        [
            ffmpeg_exe(),
            "-v",
            "error",
            "-i",
            str(talk),
            "-c",
            "copy",
            "-timecode",
            "01:00:00:00",
            str(timecoded),
        ],
        check=True,
    )

    code, stdout, stderr = cli(capsys, "silence", timecoded, tmp_path / "cut.mov")

    assert code == 0, stderr
    assert "not kept: data stream (eng, timecode 01:00:00:00)" in stdout


# --- the web jobs -------------------------------------------------------------------------------


def test_an_uploaded_mkv_keeps_its_subtitles_and_second_sound_through_silence_removal(
    app, client, logged_in, subtitled, run_worker
):
    from tests.test_pipeline_jobs import submit
    from webapp import db
    from webapp.models import Item, Task
    from webapp.storage import item_dir

    submit(client, subtitled, silence=True)
    run_worker("media")

    with app.app_context():
        item = db.session.scalar(db.select(Item))
        task = next(t for t in item.tasks if t.kind == "silence")
        assert task.status == Task.DONE, task.error
        cut = item_dir(item) / item.file("cut").name
        result, item_id = task.result, item.id
    assert cut.name == "cut.mkv"
    assert codecs(cut, "audio") == ["aac", "aac"] and codecs(cut, "subtitle") == ["subrip"]
    cutlist = CutList.from_dict(result["cutlist"])
    expected = [cutlist.map_span(start, end) for start, end, _ in CUES]
    assert [round(start, 1) for start, _ in cues(cut)] == [round(start, 1) for start, _ in expected]
    assert result["dropped"] == []
    assert "Not in the cut file" not in client.get(f"/videos/{item_id}").get_data(as_text=True)


def test_an_uploaded_mov_with_a_timecode_track_says_on_its_page_what_the_cut_dropped(
    app, client, logged_in, talk, tmp_path, run_worker
):
    from tests.test_pipeline_jobs import submit
    from webapp import db
    from webapp.models import Item

    timecoded = tmp_path / "camera.mov"
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(talk), "-c", "copy"]
        + ["-timecode", "01:00:00:00", str(timecoded)],
        check=True,
    )
    submit(client, timecoded, silence=True)
    run_worker("media")

    with app.app_context():
        item = db.session.scalar(db.select(Item))
        assert item.file("cut").name == "cut.mov"
        page = client.get(f"/videos/{item.id}").get_data(as_text=True)
    assert "Not in the cut file" in page and "data stream (eng, timecode 01:00:00:00)" in page


@needs_speech
def test_an_uploaded_webm_is_synced_and_cut_into_webm(app, client, logged_in, webm_pair, run_worker):
    """AAC cannot go into WebM (the old jobs failed here): the synced sound is Opus, the cut VP9 + Opus."""
    from tests.test_pipeline_jobs import submit
    from webapp import db
    from webapp.models import Item, Task
    from webapp.storage import item_dir

    submit(client, *webm_pair, sync=True, silence=True)
    run_worker("media", timeout=600)

    with app.app_context():
        item = db.session.scalar(db.select(Item))
        assert all(t.status == Task.DONE for t in item.tasks), {t.kind: t.error for t in item.tasks}
        folder = item_dir(item)
        synced, cut = folder / item.file("synced").name, folder / item.file("cut").name
        kept = next(t for t in item.tasks if t.kind == "silence").result["kept_duration"]
    assert (
        synced.name == "synced.webm"
        and codecs(synced, "video") == ["vp8"]
        and codecs(synced, "audio") == ["opus"]
    )
    assert cut.name == "cut.webm" and codecs(cut, "video") == ["vp9"] and codecs(cut, "audio") == ["opus"]
    assert abs(duration(synced) - WEBM_SECONDS) < 0.1 and abs(duration(cut) - kept) < 0.1
    assert kept < WEBM_SECONDS - 0.3  # pauses were cut


@needs_speech
def test_sync_carries_text_subtitles_over_unchanged(recording, capsys, tmp_path):
    camera, mic = recording
    subtitled_camera = make_subtitled(tmp_path / "camera.mkv", camera, CUES)
    out = tmp_path / "synced.mp4"

    code, _, stderr = cli(capsys, "sync", subtitled_camera, mic, out)

    assert code == 0, stderr
    assert codecs(out, "subtitle") == ["mov_text"]
    assert len(cues(out)) == len(CUES)
    for (start, end), (was_start, was_end) in zip(cues(out), cues(subtitled_camera), strict=True):
        assert abs(start - was_start) < 0.002 and abs(end - was_end) < 0.002
