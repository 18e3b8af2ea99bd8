"""Sync where the external recording does not cover the picture: the camera's own sound fills in,
so removing silence afterwards keeps every word that removing silence alone keeps."""

import json

import numpy as np
import pytest

from jobs.silence import FRAME_SECONDS, detect_silence, frame_levels
from jobs.sync import sync_audio
from tests.helpers import ROOT
from tests.media import derive_track, espeak_exe, speech_scene, write_track
from tests.test_cli import jobs_cli

TIMBL_1, TIMBL_2 = ROOT / "tests/media/timbl_1.mp3", ROOT / "tests/media/timbl_2.mp3"
TIMBL_OFFSET = 12.254  # timbl_2 starts this far into timbl_1 (tests/media/README.md)
# Kept ranges and cuts are on a 10 ms frame grid; the two sides' sounds differ slightly.
SLACK = 0.05


def uncut(keep_alone, keep_synced) -> list[tuple[float, float]]:
    """The parts of `keep_alone` (what silence removal alone keeps) that `keep_synced` cuts."""
    lost = []
    for start, end in keep_alone:
        cursor = start
        for a, b in keep_synced:
            if b <= cursor or a >= end:
                continue
            if a - cursor > SLACK:
                lost.append((cursor, a))
            cursor = max(cursor, b)
        if end - cursor > SLACK:
            lost.append((cursor, end))
    return lost


def test_real_pair_on_the_command_line_keeps_every_word(tmp_path):
    """timbl_2 starts 12.254 s into timbl_1: those 12 s were silence and were cut as a pause."""
    synced, result = tmp_path / "synced.m4a", tmp_path / "sync.json"
    done = jobs_cli("sync", str(TIMBL_1), str(TIMBL_2), str(synced), "--json", str(result))
    assert done.returncode == 0, done.stderr

    cuts = {}
    for name, source, output in (("alone", TIMBL_1, "alone.mp3"), ("synced", synced, "cut.m4a")):
        figures = tmp_path / f"{name}.json"
        done = jobs_cli("silence", str(source), str(tmp_path / output), "--json", str(figures))
        assert done.returncode == 0, done.stderr
        cuts[name] = json.loads(figures.read_text())

    alone, with_sync = cuts["alone"], cuts["synced"]
    assert uncut(alone["cutlist"]["keep"], with_sync["cutlist"]["keep"]) == []
    assert with_sync["kept_duration"] >= alone["kept_duration"] - SLACK
    assert len(with_sync["cutlist"]["removed"]) == len(alone["cutlist"]["removed"])

    sync = json.loads(result.read_text())
    assert abs(sync["offset_seconds"] - TIMBL_OFFSET) < 0.001
    ((fill_start, fill_end),) = sync["camera_fill"]
    assert fill_start == 0 and abs(fill_end - TIMBL_OFFSET) < 0.001


needs_speech = pytest.mark.skipif(espeak_exe() is None, reason="espeak-ng is needed to make test speech")

# The camera records scene time 6-36 s; the recorder started 3 s after it and stopped 7 s before it.
CAMERA_START, CAMERA_SECONDS = 6.0, 30.0
RECORDER_START, RECORDER_SECONDS = 9.0, 20.0
RECORDER_GAIN_DB = -9.0


@needs_speech
def test_recorder_started_late_and_stopped_early(tmp_path):
    scene = speech_scene(40, seed=11)
    camera = write_track(
        tmp_path / "camera.mp4", derive_track(scene, CAMERA_START, CAMERA_SECONDS, snr_db=30), video=True
    )
    recorder = derive_track(
        scene, RECORDER_START, RECORDER_SECONDS, gain_db=RECORDER_GAIN_DB, lowpass=6000, seed=4
    )
    external = write_track(tmp_path / "recorder.wav", recorder)
    synced = tmp_path / "synced.mp4"

    result = sync_audio(camera, external, synced)

    alone, with_sync = detect_silence(camera), detect_silence(synced)
    assert uncut(alone.keep, with_sync.keep) == []
    assert with_sync.kept_duration >= alone.kept_duration - SLACK

    late, early = RECORDER_START - CAMERA_START, RECORDER_START - CAMERA_START + RECORDER_SECONDS
    (head, tail) = result["camera_fill"]
    assert head[0] == 0 and abs(head[1] - late) < 0.002
    assert abs(tail[0] - early) < 0.002 and abs(tail[1] - CAMERA_SECONDS) < 0.05

    # The filled parts are as loud as the recorder would have been there.
    ideal = write_track(
        tmp_path / "ideal.wav",
        derive_track(scene, CAMERA_START, CAMERA_SECONDS, gain_db=RECORDER_GAIN_DB, lowpass=6000, seed=4),
    )
    for start, end in result["camera_fill"]:
        heard, expected = (speech_level(path, start, end) for path in (synced, ideal))
        assert abs(heard - expected) < 1.5, (start, end, heard, expected)


def speech_level(path, start: float, end: float) -> float:
    """The 95th percentile of the 10 ms frame levels (dBFS) of `path` between `start` and `end`."""
    levels = frame_levels(path, CAMERA_SECONDS, lambda fraction: None)
    return float(np.percentile(levels[int(start / FRAME_SECONDS) : int(end / FRAME_SECONDS)], 95))


@pytest.mark.parametrize(
    ("recorder_start", "recorder_seconds", "filled"),
    [(5.0, 20.0, "end"), (12.0, 30.0, "start")],
    ids=["recorder started first and stopped first", "recorder started late and ran on"],
)
def test_the_camera_fills_one_end_only(tmp_path, recorder_start, recorder_seconds, filled):
    """A recorder that covers one end of the picture but not the other: one fill, one crossfade.
    (Filling only the end built a filter graph ffmpeg refused, so such a sync failed.)"""
    scene = speech_scene(45, seed=12)
    camera = write_track(
        tmp_path / "camera.mp4", derive_track(scene, CAMERA_START, CAMERA_SECONDS, snr_db=30), video=True
    )
    recorder = derive_track(scene, recorder_start, recorder_seconds, gain_db=RECORDER_GAIN_DB, seed=5)
    synced = tmp_path / "synced.mp4"

    result = sync_audio(camera, write_track(tmp_path / "recorder.wav", recorder), synced)

    (fill,) = result["camera_fill"]
    if filled == "end":
        stops = recorder_start + recorder_seconds - CAMERA_START
        assert abs(fill[0] - stops) < 0.002 and abs(fill[1] - CAMERA_SECONDS) < 0.05
    else:
        assert fill[0] == 0 and abs(fill[1] - (recorder_start - CAMERA_START)) < 0.002
    alone, with_sync = detect_silence(camera), detect_silence(synced)
    assert uncut(alone.keep, with_sync.keep) == []
