"""A recording's sound decoded once (jobs/sound.py): the jobs that read it after the first take the
decoded sound file, not the recording, and find what they find from the recording itself."""

import json

import numpy as np
import pytest

from jobs.errors import MediaError
from jobs.prepare import draw_waveform
from jobs.probe import probe
from jobs.silence import detect_silence
from jobs.sound import SOUND_RATE
from jobs.suggest_audio import analyse
from jobs.sync import find_offset
from jobs.transcribe import transcribe
from tests.helpers import OFFSET
from tests.media import espeak_exe

pytestmark = pytest.mark.skipif(espeak_exe() is None, reason="espeak-ng is needed to make test speech")


def test_the_jobs_after_the_first_read_the_decoded_sound_and_find_the_same(recording, tmp_path):
    camera, mic = recording
    info = probe(camera)
    sound = tmp_path / ".sound-camera.f32"
    alone = detect_silence(camera)

    draw_waveform(camera, tmp_path / "waveform.png", info.duration, sound=sound)  # decodes it
    assert (tmp_path / "waveform.png").read_bytes()[:4] == b"\x89PNG"
    samples = np.fromfile(sound, np.float32)
    assert abs(len(samples) / SOUND_RATE - info.duration) < 0.1 and np.abs(samples).max() > 0.1

    # The recording is gone: what reads it now can only have read the decoded sound.
    gone = tmp_path / "camera.mp4"
    gone.write_bytes(b"no longer a recording")
    assert detect_silence(gone, info=info, sound=sound).keep == alone.keep
    found = find_offset(gone, mic, primary_info=info, primary_sound=sound)
    assert abs(found["offset_seconds"] - OFFSET) < 0.001
    draw_waveform(gone, tmp_path / "again.png", info.duration, sound=sound)
    assert (tmp_path / "again.png").read_bytes()[:4] == b"\x89PNG"


def test_without_a_decoded_sound_the_recording_itself_is_read(recording, tmp_path):
    camera, _ = recording
    gone = tmp_path / "camera.mp4"
    gone.write_bytes(b"no longer a recording")
    with pytest.raises(MediaError):
        detect_silence(gone, info=probe(camera), sound=tmp_path / ".sound-camera.f32")
    assert not (tmp_path / ".sound-camera.f32").exists()  # nothing half-written stays


def test_transcription_and_its_second_listening_read_the_decoded_sound_too(recording, tmp_path):
    camera, _ = recording
    info = probe(camera)
    sound = tmp_path / ".sound-camera.f32"
    (tmp_path / "first").mkdir()
    first = transcribe(camera, tmp_path / "first", info=info, sound=sound)  # decodes it
    assert sound.exists() and first["words"] > 3

    gone = tmp_path / "camera.mp4"
    gone.write_bytes(b"no longer a recording")
    (tmp_path / "again").mkdir()
    assert transcribe(gone, tmp_path / "again", info=info, sound=sound)["words"] == first["words"]
    transcript = json.loads((tmp_path / "again" / "transcript.json").read_text())
    found = analyse(gone, transcript, info=info, sound=sound)
    assert found["duration"] == round(info.duration, 3) and found["pauses"]
