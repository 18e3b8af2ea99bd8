"""The command line over the engine: results on good input, one-line reasons and exit 1 on bad."""

import json
import re
import subprocess
import sys

import pytest

from tests.helpers import ROOT
from tests.media import make_talk, make_text_file


def jobs_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "jobs", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_silence_on_the_command_line(tmp_path):
    talk = make_talk(
        tmp_path / "talk.mp4", [(1.0, True), (2.0, False), (1.5, True), (1.0, False), (1.0, True)]
    )
    result = jobs_cli("silence", str(talk), str(tmp_path / "cut.mp4"), "--json", str(tmp_path / "cuts.json"))
    assert result.returncode == 0, result.stderr
    assert "removed" in result.stdout and "s of 6.5 s" in result.stdout
    cuts = json.loads((tmp_path / "cuts.json").read_text())
    assert 2.0 < cuts["removed_seconds"] < 3.0 and (tmp_path / "cut.mp4").stat().st_size > 0


def test_sync_on_the_command_line_says_how_sure_it_is(tmp_path):
    media = ROOT / "tests/media"
    result = jobs_cli(
        "sync", str(media / "timbl_1.mp3"), str(media / "timbl_2.mp3"), str(tmp_path / "synced.m4a")
    )
    assert result.returncode == 0, result.stderr
    said = r"offset \+1225\d\.\d ms, strong match \(\d+\), (\d+) of \1 checks along the overlap agree"
    assert re.search(said, result.stdout), result.stdout


def test_probe_prints_what_the_file_holds_as_json(tmp_path):
    talk = make_talk(tmp_path / "talk.mp4", [(1.0, True), (0.5, False)])
    result = jobs_cli("probe", str(talk))
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert (info["container"], info["video"]["codec"], info["audio"]["codec"]) == ("mp4", "h264", "aac")
    assert info["duration"] == pytest.approx(1.5, abs=0.1)
    # The web process runs it for every upload: it loads no timeline writer (a fifth of its time).
    loaded = subprocess.run(
        [sys.executable, "-c", PROBE_THEN_LIST_MODULES, str(talk)], cwd=ROOT, capture_output=True, text=True
    )
    assert loaded.returncode == 0 and loaded.stdout.splitlines()[-1] == "[]", loaded.stderr


PROBE_THEN_LIST_MODULES = """
import sys
from jobs.__main__ import main
main(["probe", sys.argv[1]])
print([name for name in sys.modules if name.startswith("jobs.timeline")])
"""


@pytest.mark.parametrize(
    "args",
    [
        ["silence", "{text}", "{out}/cut.mp4"],
        ["sync", "{talk}", "{text}", "{out}/synced.mp4"],
        ["transcribe", "{text}", "--out-dir", "{out}/t"],
        ["silence", "{out}/missing.mp4", "{out}/cut.mp4"],
        ["probe", "{text}"],
    ],
    ids=["silence-text", "sync-text-external", "transcribe-text", "missing-file", "probe-text"],
)
def test_bad_input_exits_non_zero_with_one_line(tmp_path, args):
    text = make_text_file(tmp_path / "notes.mp4")
    talk = make_talk(tmp_path / "talk.mp4", [(2.0, True), (1.0, False)])
    values = {"text": str(text), "talk": str(talk), "out": str(tmp_path)}
    result = jobs_cli(*[a.format(**values) for a in args])
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.glob("cut*")) and not list(tmp_path.glob("synced*"))


def test_bad_option_is_a_usage_error():
    result = jobs_cli("silence", "a.mp4", "b.mp4", "--threshold-db", "loud")
    assert result.returncode == 2 and "dBFS" in result.stderr
    result = jobs_cli("export", "a.mp4", "cuts.json", "cut.xml", "--format", "word")
    assert result.returncode == 2 and "invalid choice: 'word' (choose from 'edl', 'fcpxml'," in result.stderr
