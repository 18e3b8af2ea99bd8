"""Audio sync on generated speech: offsets to the millisecond, drift, refusals and the swapped file."""

import re
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from jobs.errors import MediaError
from jobs.probe import probe
from jobs.sync import MIN_CONFIDENCE, find_offset, match_words, swap_audio, sync_audio
from tests.helpers import ROOT
from tests.media import (
    SPEECH_RATE,
    derive_track,
    espeak_exe,
    jingle,
    make_text_file,
    read_samples,
    scene_with_repeats,
    speech_scene,
    write_track,
)

pytestmark = pytest.mark.skipif(espeak_exe() is None, reason="espeak-ng is not installed: no speech to sync")

# Where the camera starts in the scene, and how long it records.
CAMERA_START, CAMERA_SECONDS = 6.0, 30.0
TOLERANCE = 0.001
FPS = 25
DIFFERENT_TEXT = (
    "Tomatoes need sun, water and patience before the first fruit appears in the garden.",
    "The library closes early on Sundays, so return your books before noon.",
    "Our cat sleeps on the warm windowsill every afternoon when the sun comes round.",
)


@pytest.fixture(scope="module")
def scene():
    return speech_scene(48, seed=1)


@pytest.fixture(scope="module")
def camera(scene, tmp_path_factory):
    """The camera's file: a video with its own, slightly noisy, sound."""
    folder = tmp_path_factory.mktemp("camera")
    track = derive_track(scene, CAMERA_START, CAMERA_SECONDS, snr_db=25, seed=5)
    return write_track(folder / "camera.mp4", track, video=True, fps=FPS)


@pytest.fixture(scope="module")
def camera_wav(scene, tmp_path_factory):
    track = derive_track(scene, CAMERA_START, CAMERA_SECONDS, snr_db=25, seed=5)
    return write_track(tmp_path_factory.mktemp("camera") / "camera.wav", track)


# name: (external's start in the scene, recorder options, file name)
PAIRS = {
    "starts_after_camera": (9.217, {}, "ext.wav"),
    "starts_before_camera": (2.503, {}, "ext.wav"),
    "quieter_by_20db": (7.1, {"gain_db": -20}, "ext.wav"),
    "noise_10db_snr": (7.3, {"snr_db": 10}, "ext.wav"),
    "lowpass_and_eq": (6.61, {"lowpass": 3000}, "ext.wav"),
    "44100_hz": (8.77, {"sample_rate": 44100}, "ext.wav"),
    "mp3": (4.9, {"snr_db": 30}, "ext.mp3"),
    "aac_in_m4a": (10.05, {"snr_db": 30}, "ext.m4a"),
}


@pytest.mark.parametrize("primary_kind", ["video", "wav"])
@pytest.mark.parametrize("kind", PAIRS)
def test_offset_within_a_millisecond(kind, primary_kind, scene, camera, camera_wav, tmp_path):
    start, options, name = PAIRS[kind]
    sample_rate = options.get("sample_rate", 48000)
    external = write_track(tmp_path / name, derive_track(scene, start, 26, **options), sample_rate)

    result = find_offset(camera if primary_kind == "video" else camera_wav, external)

    assert abs(result["offset_seconds"] - (start - CAMERA_START)) < TOLERANCE
    assert result["confidence"] >= MIN_CONFIDENCE
    assert result["drift_ppm"] == 0.0  # too short to measure: taken as none
    assert result["sample_rate"] == 8000


@pytest.mark.parametrize("drift_ppm", [150, -80])
def test_drift_is_measured_and_corrected(drift_ppm, tmp_path):
    scene = speech_scene(195, seed=3)
    camera = write_track(tmp_path / "camera.wav", derive_track(scene, 10, 180, snr_db=20))
    sample_rate = 44100 if drift_ppm < 0 else 48000
    recorder = derive_track(scene, 7.5, 186, drift_ppm=drift_ppm, lowpass=4000, sample_rate=sample_rate)
    external = write_track(tmp_path / "recorder.wav", recorder, sample_rate)

    found = find_offset(camera, external)
    assert abs(found["offset_seconds"] - (7.5 - 10)) < TOLERANCE
    assert abs(found["drift_ppm"] - drift_ppm) < 10
    assert found["rate"] == pytest.approx(1 / (1 + found["drift_ppm"] * 1e-6))

    synced = tmp_path / "synced.m4a"
    swap_audio(camera, external, synced, found)
    again = find_offset(camera, synced)
    used = [window for window in again["windows"] if window["used"]]
    start, end = used[0], used[-1]
    assert end["external_seconds"] - start["external_seconds"] > 150
    for window in (start, end):
        assert abs(window["camera_seconds"] - window["external_seconds"]) < TOLERANCE


MISMATCHES = {
    "different_text": lambda: speech_scene(30, seed=7, sentences=DIFFERENT_TEXT),
    "noise_only": lambda: np.random.default_rng(3).normal(0, 0.1, 30 * 48000).astype(np.float32),
    "silence": lambda: np.zeros(30 * 48000, dtype=np.float32),
}


@pytest.mark.parametrize("kind", MISMATCHES)
def test_mismatch_is_refused_with_its_confidence(kind, camera, tmp_path):
    external = write_track(tmp_path / "other.wav", MISMATCHES[kind]())
    synced = tmp_path / "synced.mp4"

    with pytest.raises(MediaError, match=r"match confidence \d+\.\d, needs 10\)\..*Nothing was changed"):
        sync_audio(camera, external, synced)
    assert list(tmp_path.iterdir()) == [external]


def test_text_file_as_external_is_refused(camera, tmp_path):
    notes = make_text_file(tmp_path / "notes.wav")
    with pytest.raises(MediaError, match="not a video or audio recording"):
        sync_audio(camera, notes, tmp_path / "synced.mp4")
    assert list(tmp_path.iterdir()) == [notes]


@pytest.mark.parametrize("keep_camera_audio", [False, True])
def test_swap_copies_the_video_and_fits_its_length(keep_camera_audio, scene, camera, tmp_path):
    external = write_track(tmp_path / "ext.wav", derive_track(scene, 3.0, 40, snr_db=30))
    synced = tmp_path / "synced.mp4"
    progress = []

    result = sync_audio(
        camera,
        external,
        synced,
        keep_camera_audio=keep_camera_audio,
        on_progress=lambda percent, stage: progress.append((percent, stage)),
    )

    assert abs(result["offset_seconds"] - (3.0 - CAMERA_START)) < TOLERANCE
    assert result["audio_tracks"] == (2 if keep_camera_audio else 1)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["ext.wav", "synced.mp4"]
    source, output = _describe(camera), _describe(synced)
    assert output["video"] == source["video"]  # same codec and the very same packets
    assert abs(result["output_duration"] - source["duration"]) <= 1 / FPS
    assert abs(output["audio"][0]["duration"] - source["duration"]) <= 1 / FPS
    assert len(output["audio"]) == result["audio_tracks"]
    assert output["audio"][0]["default"]
    assert not any(track["default"] for track in output["audio"][1:])

    percents = [percent for percent, _ in progress]
    assert percents == sorted(percents) and percents[-1] == 100
    stages = {stage for _, stage in progress}
    assert {"Matching", "Measuring drift", "Writing synced file"} <= stages
    assert stages & {"Reading camera audio", "Reading external audio"}


def test_swapped_sound_lines_up_with_the_picture(scene, camera, tmp_path):
    """The new track, decoded from the output, sits where the camera's sound was."""
    external = write_track(tmp_path / "ext.m4a", derive_track(scene, 9.0, 20, snr_db=30))
    synced = sync_audio(camera, external, tmp_path / "synced.mp4", keep_camera_audio=True)

    again = find_offset(camera, tmp_path / "synced.mp4")
    assert abs(again["offset_seconds"]) < TOLERANCE
    assert synced["audio_tracks"] == 2


def test_the_primary_is_probed_once_and_not_at_all_when_its_probe_is_given(
    scene, camera, tmp_path, monkeypatch
):
    """The worker passes the upload's stored probe; the external is probed once, and the written
    file once (read back to check it)."""
    external = write_track(tmp_path / "ext.wav", derive_track(scene, 3.0, 40, snr_db=30))
    probed = []

    def counting(path, real=probe):
        probed.append(Path(path))
        return real(path)

    for name, module in list(sys.modules.items()):
        if (name == "jobs.sync" or name.startswith("jobs.sync.")) and hasattr(module, "probe"):
            monkeypatch.setattr(module, "probe", counting)

    sync_audio(camera, external, tmp_path / "alone.mp4")
    assert probed.count(Path(camera)) == 1 and probed.count(external) == 1 and len(probed) == 3
    probed.clear()
    sync_audio(camera, external, tmp_path / "given.mp4", primary_info=probe(camera))
    assert Path(camera) not in probed and probed.count(external) == 1 and len(probed) == 2


def test_audio_only_primary_gives_an_audio_file(scene, camera_wav, tmp_path):
    external = write_track(tmp_path / "ext.mp3", derive_track(scene, 4.0, 34))
    result = sync_audio(camera_wav, external, tmp_path / "synced.m4a")

    output = _describe(tmp_path / "synced.m4a")
    assert output["video"] is None
    assert len(output["audio"]) == 1
    assert abs(result["output_duration"] - CAMERA_SECONDS) < 0.05


# A scene in which the same 25 s jingle plays twice, 40.817 s apart; the camera records its first 100 s.
JINGLE_AT, JINGLE_SECONDS = (10.0, 50.817), 25.0
REAL_PAIR = (ROOT / "tests/media/timbl_1.mp3", ROOT / "tests/media/timbl_2.mp3")


@pytest.fixture(scope="module")
def jingle_scene():
    return scene_with_repeats(110, JINGLE_AT, JINGLE_SECONDS, seed=4)


@pytest.fixture(scope="module")
def jingle_camera(jingle_scene, tmp_path_factory):
    track = derive_track(jingle_scene, 0, 100, snr_db=25, seed=5)
    return write_track(tmp_path_factory.mktemp("jingle") / "camera.wav", track)


def _recorder(scene, start, seconds, drift_ppm, path):
    return write_track(
        path, derive_track(scene, start, seconds, snr_db=30, lowpass=4000, drift_ppm=drift_ppm, seed=7)
    )


@pytest.mark.parametrize("drift_ppm", [0, 300])
@pytest.mark.parametrize("copy", [0, 1])
def test_a_recorder_that_heard_only_the_repeated_jingle_is_refused(
    copy, drift_ppm, jingle_scene, jingle_camera, tmp_path
):
    """It fits both copies equally: any offset would be a guess (the old search applied one,
    half the time the wrong copy's, 40.8 s off)."""
    start = JINGLE_AT[copy] + 1
    external = _recorder(jingle_scene, start, JINGLE_SECONDS - 2, drift_ppm, tmp_path / "ext.wav")
    places = r"\+11\.00\d s and \+51\.81\d s"

    with pytest.raises(
        MediaError, match=rf"fits the camera recording in two places, {places}; Cutroom does not guess"
    ):
        sync_audio(jingle_camera, external, tmp_path / "synced.m4a")
    assert list(tmp_path.iterdir()) == [external]


@pytest.mark.parametrize("drift_ppm", [0, 300])
@pytest.mark.parametrize(
    ("start", "seconds"), [(45.817, 50.0), (4.0, 45.0)], ids=["second-copy", "first-copy"]
)
def test_a_repeated_jingle_with_speech_around_it_is_placed_on_the_right_copy(
    start, seconds, drift_ppm, jingle_scene, jingle_camera, tmp_path
):
    external = _recorder(jingle_scene, start, seconds, drift_ppm, tmp_path / "ext.wav")

    found = find_offset(jingle_camera, external)

    assert abs(found["offset_seconds"] - start) < TOLERANCE
    assert abs(found["drift_ppm"] - drift_ppm) < 10
    assert found["match"].startswith("strong match (")
    assert found["agreeing_windows"] == found["checked_windows"] >= 8
    # The other copy was weighed and lines up only where the jingle plays.
    other = [p for p in found["placements"] if abs(abs(p["offset_seconds"] - start) - 40.817) < 0.01]
    assert other and other[0]["agreeing_windows"] <= found["agreeing_windows"] - 2


def test_a_match_the_rest_of_the_recording_does_not_confirm_is_refused(jingle_scene, tmp_path):
    """The recorder shares the jingle with the camera but then holds other words: the jingle alone
    matches strongly, the stretches after it do not line up."""
    camera = write_track(tmp_path / "camera.wav", derive_track(jingle_scene, 36, 64, snr_db=25, seed=5))
    other = speech_scene(35, seed=7, sentences=DIFFERENT_TEXT)
    external = write_track(tmp_path / "ext.wav", np.concatenate([jingle(JINGLE_SECONDS), other]))

    with pytest.raises(
        MediaError, match=r"The match is not confirmed along the recording: only \d+ of \d+ stretches line up"
    ) as refusal:
        sync_audio(camera, external, tmp_path / "synced.m4a")
    agreeing, checked = map(int, re.search(r"only (\d+) of (\d+)", str(refusal.value)).groups())
    assert 0 < agreeing < checked  # the jingle lines up, the words after it do not
    assert sorted(path.name for path in tmp_path.iterdir()) == ["camera.wav", "ext.wav"]


def test_the_real_pair_is_a_strong_match_confirmed_along_its_overlap():
    found = find_offset(*REAL_PAIR)

    assert abs(found["offset_seconds"] - 12.254) < 0.002
    assert found["match"] == f"strong match ({int(found['confidence'])})"
    assert found["agreeing_windows"] == found["checked_windows"] >= 6
    assert len(found["placements"]) == 1


@pytest.mark.parametrize("snr_db", [20, 12])
def test_pauses_under_a_hissing_recorder_do_not_count_against_the_match(snr_db, tmp_path):
    """example.mp4 is silent from 17.3 s to 40 s: there the recorder holds only its own hiss,
    which neither confirms nor denies where it belongs (these stretches were once counted as
    disagreeing, and the pair was refused as "not confirmed")."""
    camera = ROOT / "tests/media/example.mp4"
    track = derive_track(read_samples(camera), 2.0, 40, snr_db=snr_db, lowpass=4000, seed=3)
    external = write_track(tmp_path / "recorder.wav", track)

    found = find_offset(camera, external)

    assert abs(found["offset_seconds"] - 2.0) < TOLERANCE
    assert found["agreeing_windows"] == found["checked_windows"] >= 4


@pytest.mark.parametrize(
    ("confidence", "words"),
    [
        (6.2, "refused (6)"),
        (10.0, "weak match (10)"),
        (19.6, "weak match (19)"),
        (20.0, "strong match (20)"),
        (142.17, "strong match (142)"),
    ],
)
def test_confidence_is_said_with_its_meaning(confidence, words):
    assert match_words(confidence) == words


def _describe(path):
    """Video codec and packet fingerprint, audio tracks with their length and default flag."""
    with av.open(str(path)) as container:
        video = container.streams.video[0] if container.streams.video else None
        audio = list(container.streams.audio)
        packets = [bytes(packet) for packet in container.demux(video)] if video else []
        tracks = [
            {
                "duration": float(stream.duration * stream.time_base),
                "default": bool(stream.disposition & av.stream.Disposition.default),
            }
            for stream in audio
        ]
        return {
            "duration": container.duration / av.time_base,
            "video": (video.codec_context.name, len([p for p in packets if p]), hash(tuple(packets)))
            if video
            else None,
            "audio": tracks,
        }


@pytest.mark.parametrize(("seconds", "start"), [(7.0, 0.0), (7.0, 0.43), (3.0, 1.21)])
def test_short_clips_are_synced(scene, seconds, start, tmp_path):
    """A clip shorter than two fine windows (a phone's few seconds, a test file): the windows sit
    where their camera stretch fits, even when both recordings start together."""
    camera = derive_track(scene, 10.0, seconds + start, snr_db=30, seed=2)
    external = derive_track(scene, 10.0 + start, seconds, snr_db=30, seed=3)
    found = find_offset(write_track(tmp_path / "c.wav", camera), write_track(tmp_path / "e.wav", external))
    assert abs(found["offset_seconds"] - start) < TOLERANCE, found
    assert found["match"].startswith("strong match"), found


def test_a_placement_at_the_camera_edge_does_not_stop_the_search(tmp_path):
    """The camera holds one stretch twice (X Y X W, 10 s each, from the real interview); the
    recorder took X W through a low-cut filter, so the coarse stage also proposes a placement that
    hangs off the camera's end. That one is skipped, not taken for "no overlap": X W is at +20 s."""
    import scipy.signal

    speech = read_samples(ROOT / "tests/media/timbl_1.mp3")
    part = {
        name: speech[at * SPEECH_RATE : (at + 10) * SPEECH_RATE]
        for name, at in (("x", 2), ("y", 14), ("w", 30))
    }
    camera = np.concatenate([part["x"], part["y"], part["x"], part["w"]])
    low_cut = scipy.signal.butter(2, 80, "highpass", fs=SPEECH_RATE, output="sos")
    recorder = scipy.signal.sosfilt(low_cut, camera[20 * SPEECH_RATE :]).astype(np.float32)
    found = find_offset(write_track(tmp_path / "c.wav", camera), write_track(tmp_path / "e.wav", recorder))
    assert abs(found["offset_seconds"] - 20.0) < TOLERANCE, found
