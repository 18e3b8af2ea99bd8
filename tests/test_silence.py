"""Silence removal against real ffmpeg on generated talks: detection, cutting, smart rendering, errors."""

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

import jobs.silence
from jobs.cutlist import CutList
from jobs.errors import MediaError
from jobs.ffmpeg import ffmpeg_exe
from jobs.probe import probe
from jobs.render import h264, parallel, render_cut, verify
from jobs.render.mux import sound_fits, sound_frame, stream_durations
from jobs.render.plan import frame_ranges
from jobs.silence import detect_silence, remove_silence
from tests.helpers import wait_until
from tests.media import make_phrases, make_talk, make_video

# (seconds, sounding): pauses of 1.5 s and 1.0 s, and a short 0.3 s one that must stay.
PATTERN = [(3.0, True), (1.5, False), (2.5, True), (0.3, False), (2.0, True), (1.0, False), (3.2, True)]
PAUSES = [(3.0, 4.5), (9.3, 10.3)]
MARGIN = 0.2
TOLERANCE = 0.25
# A longer talk for smart rendering: speech runs long enough to hold whole 2-second GOPs.
LONG_PATTERN = [(7.0, True), (1.4, False), (9.0, True), (2.0, False), (6.6, True)]


def expected_cuts(pauses, margin=MARGIN):
    return [(start + margin, end - margin) for start, end in pauses]


def assert_cuts_match(removed, pauses):
    assert len(removed) == len(pauses), removed
    for (start, end), (want_start, want_end) in zip(removed, expected_cuts(pauses), strict=True):
        assert start == pytest.approx(want_start, abs=TOLERANCE)
        assert end == pytest.approx(want_end, abs=TOLERANCE)


def decode_errors(path):
    result = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-i", str(path), "-f", "null", "-"],
        capture_output=True,
        text=True,
    )
    return result.stderr.strip()


def top_level_boxes(path):
    """The kinds of an MP4 file's top-level boxes, in file order."""
    kinds = []
    with open(path, "rb") as file:
        while header := file.read(8):
            size, kind = int.from_bytes(header[:4], "big"), header[4:].decode("latin-1")
            if size == 1:
                size = int.from_bytes(file.read(8), "big") - 8
            kinds.append(kind)
            file.seek(size - 8, 1)
    return kinds


def frame_duration(path):
    with av.open(str(path)) as container:
        return float(1 / container.streams.video[0].average_rate)


def assert_lengths_hold(path, kept_duration):
    video, audio = stream_durations(path)
    frame = frame_duration(path)
    assert sound_fits(video, audio, frame, sound_frame(path)), (video, audio)
    assert abs(video - kept_duration) <= frame


@pytest.fixture(scope="module")
def talk_wav(tmp_path_factory):
    return make_talk(tmp_path_factory.mktemp("talk") / "talk.wav", PATTERN, video=False)


@pytest.fixture(scope="module")
def smart_talk(tmp_path_factory):
    return make_talk(tmp_path_factory.mktemp("smart") / "talk.mp4", LONG_PATTERN, gop_seconds=2.0)


def test_detection_finds_the_inserted_pauses(talk_wav):
    cutlist = detect_silence(talk_wav)

    assert_cuts_match(cutlist.removed, PAUSES)
    assert cutlist.details["threshold_db"] < cutlist.details["speech_db"]


@pytest.mark.parametrize("level_db", [-35.0, -12.0])
def test_auto_threshold_works_for_quiet_and_loud_recordings(tmp_path, level_db):
    talk = make_talk(tmp_path / "talk.wav", PATTERN, level_db=level_db, video=False)

    cutlist = detect_silence(talk)

    assert_cuts_match(cutlist.removed, PAUSES)
    assert cutlist.details["speech_db"] == pytest.approx(level_db, abs=4)


def test_a_fixed_threshold_above_everything_is_explained(talk_wav):
    with pytest.raises(MediaError, match="threshold"):
        detect_silence(talk_wav, threshold_db=-3)


def test_detection_finds_pauses_between_spoken_phrases(tmp_path):
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed, so no speech can be generated")
    phrases = ["the quarterly figures look good", "seven orange boxes stood by the door", "thank you all"]
    pauses = make_phrases(tmp_path / "speech.wav", phrases, pause=1.2)

    cutlist = detect_silence(tmp_path / "speech.wav")

    assert_cuts_match(cutlist.removed, pauses)


def test_smart_render_copies_whole_gops_and_decodes_cleanly(smart_talk, tmp_path):
    out = tmp_path / "out.mp4"

    result = remove_silence(smart_talk, out)

    assert result["render"]["mode"] == "smart"
    assert result["render"]["copied_seconds"] > 0
    assert decode_errors(out) == ""
    assert top_level_boxes(out).index("moov") < top_level_boxes(out).index("mdat")  # plays while loading
    assert_lengths_hold(out, result["kept_duration"])
    assert_cuts_match([tuple(r) for r in result["cutlist"]["removed"]], [(7.0, 8.4), (17.4, 19.4)])


@pytest.mark.parametrize("in_processes", [False, True])
def test_smart_render_shows_the_right_frame_everywhere(smart_talk, tmp_path, monkeypatch, in_processes):
    # In processes, each worker keeps the source open and seeks from edge to edge.
    started = []
    if in_processes:
        monkeypatch.setattr(parallel, "FRAMES_PER_PROCESS", 1)
        monkeypatch.setattr(parallel, "usable_cores", lambda: 2)
        monkeypatch.setattr(parallel.Processes, "__init__", recording(parallel.Processes.__init__, started))
    out = tmp_path / "out.mp4"
    cutlist = CutList(probe(smart_talk).duration, [(0.0, 3.3), (5.1, 12.7), (14.02, 24.0)])

    result = render_cut(smart_talk, out, cutlist)

    assert result["mode"] == "smart"
    assert len(started) == (1 if in_processes else 0)  # one set of workers: the edges, then the check
    source, output = gray_frames(smart_talk), gray_frames(out)
    wanted = [n for a, b in cutlist.keep for n in range(round(a * 25), round(b * 25))]
    assert len(output) == len(wanted)
    differences = [np.abs(output[j] - source[n]).mean() for j, n in enumerate(wanted)]
    assert max(differences) < 6  # re-encoded edges differ by compression noise only


def recording(init, started):
    def record(self, *args, **kwargs):
        started.append(self)
        init(self, *args, **kwargs)

    return record


def descendants(pid: int) -> list[int]:
    table = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True).stdout
    children: dict[int, list[int]] = {}
    for line in table.splitlines():
        child, parent = map(int, line.split())
        children.setdefault(parent, []).append(child)
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def running(pid: int) -> bool:
    """True while the process runs (a zombie nobody reaps here runs nothing any more)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


ROOT = Path(__file__).resolve().parent.parent


def run_python(script: str, *args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", script, *map(str, args)], cwd=ROOT)


def assert_children_die_with(job: subprocess.Popen, children: list[int]) -> None:
    try:
        job.send_signal(signal.SIGKILL)  # as RQ kills a work horse, but not its process group
        assert job.wait() == -signal.SIGKILL, "the job had ended before it was killed"
        wait_until(lambda: not any(running(pid) for pid in children), 10, "the job's children to end")
    finally:
        for pid in children:
            if running(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_worker_process_gives_back_results_and_exceptions_as_they_were():
    # The render's fallback to a re-encode catches the media errors by their type.
    with parallel.Processes(2) as pool:
        assert list(pool.map(divmod, [7, 9], [2, 4])) == [(3, 1), (2, 1)]
        with pytest.raises(MediaError, match="less than one frame"):
            pool.submit(frame_ranges, [(1.0, 1.0)], 25, 100).result()


def test_a_worker_process_that_dies_fails_its_task_instead_of_leaving_it_waiting():
    with parallel.Processes(1) as pool:
        with pytest.raises(parallel.WorkerDied):
            pool.submit(os._exit, 3).result(timeout=30)
        with pytest.raises(parallel.WorkerDied):
            pool.submit(divmod, 7, 2).result(timeout=30)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signals are Linux only")
def test_a_worker_process_busy_when_its_render_is_killed_dies_with_it():
    # Busy, a worker reads no more tasks, so it never sees its pipe close: only the kernel ends it.
    script = "import sys, time\nfrom jobs.render.parallel import Processes\n"
    script += "pool = Processes(2)\nfor _ in range(2):\n    pool.submit(time.sleep, 600)\ntime.sleep(600)\n"
    job = run_python(script)
    children = wait_until(lambda: len(found := descendants(job.pid)) == 2 and found, 30, "the workers")

    assert_children_die_with(job, children)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signals are Linux only")
def test_a_render_killed_outright_leaves_no_process_behind(tmp_path):
    # Dense cuts on 1-second GOPs: dozens of edges, encoded in worker processes while ffmpeg cuts the sound.
    talk = make_video(tmp_path / "talk.mp4", seconds=40, size="640x360")
    keep = [(start + 0.5, start + 2.5) for start in range(0, 39, 3)]
    script = "import sys\nfrom jobs.cutlist import CutList\nfrom jobs.render import parallel, render_cut\n"
    script += "parallel.FRAMES_PER_PROCESS = 1\n"
    script += f"render_cut(sys.argv[1], sys.argv[2], CutList(40.0, {keep!r}))\n"
    job = run_python(script, talk, tmp_path / "out.mp4")

    def workers():
        found = descendants(job.pid)
        serving = [pid for pid in found if parallel.SERVE in Path(f"/proc/{pid}/cmdline").read_text()]
        return serving and found

    children = wait_until(workers, 30, "the render's worker processes")

    assert_children_die_with(job, children)
    assert not (tmp_path / "out.mp4").exists()


def test_a_re_encode_in_parallel_segments_shows_the_right_frame_everywhere(tmp_path, monkeypatch):
    # Segments split clips at any frame and each seeks on its own: every output frame must still be
    # the source frame it stands for, none lost or doubled at a segment's start or end.
    monkeypatch.setattr("jobs.render.smart_work", lambda *args: float("inf"))
    monkeypatch.setattr("jobs.render.reencode.usable_cores", lambda: 2)
    talk = make_video(tmp_path / "talk.mp4", seconds=44, audio=False)
    keep = [(0.0, 3.3), (5.1, 12.7), (14.02, 24.0), (25.0, 30.52), (31.3, 44.0)]
    out = tmp_path / "out.mp4"

    result = render_cut(talk, out, CutList(44.0, keep))

    assert result["mode"] == "reencode"
    source, output = gray_frames(talk), gray_frames(out)
    wanted = [n for a, b in keep for n in range(round(a * 25), round(b * 25))]
    assert len(output) == len(wanted)
    for j, n in enumerate(wanted):
        near = [m for m in (n - 1, n, n + 1) if 0 <= m < len(source)]
        closest = min(near, key=lambda m: np.abs(output[j] - source[m]).mean())
        assert closest == n, f"output frame {j} shows source frame {closest}, not {n}"


def gray_frames(path):
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="gray").astype(np.float32) for frame in container.decode(video=0)]


def test_long_gops_with_dense_cuts_are_fully_re_encoded(tmp_path):
    pattern = [(1.6, True), (0.8, False)] * 6 + [(1.6, True)]
    talk = make_talk(tmp_path / "talk.mp4", pattern, gop_seconds=8.0)
    out = tmp_path / "out.mp4"

    result = remove_silence(talk, out)

    assert result["render"]["mode"] == "reencode"
    assert result["render"]["copied_seconds"] == 0
    assert result["cutlist"]["removed_seconds"] > 1.0
    assert decode_errors(out) == ""
    assert_lengths_hold(out, result["kept_duration"])
    assert probe(out).video.pix_fmt == "yuv420p"


@pytest.mark.parametrize(("suffix", "codec"), [(".mp3", "mp3"), (".wav", "pcm_s16le"), (".m4a", "aac")])
def test_audio_only_comes_out_in_the_same_format(tmp_path, suffix, codec):
    talk = make_talk(tmp_path / f"talk{suffix}", PATTERN, video=False)
    out = tmp_path / f"out{suffix}"

    result = remove_silence(talk, out)

    info = probe(out)
    assert result["render"]["mode"] == "audio"
    assert info.video is None and info.audio.codec == codec
    assert info.duration == pytest.approx(result["kept_duration"], abs=0.06)
    assert_cuts_match([tuple(r) for r in result["cutlist"]["removed"]], PAUSES)


def test_joins_have_no_clicks(tmp_path):
    tone = make_talk(tmp_path / "tone.wav", [(4.0, True)], video=False)
    out = tmp_path / "cut.wav"
    # Cut in the middle of the tone, where a hard join would jump between unrelated phases.
    cutlist = CutList(4.0, [(0.0, 1.0131), (2.5077, 3.0), (3.3333, 4.0)])

    render_cut(tone, out, cutlist)

    with av.open(str(out)) as container:
        samples = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])
    samples = samples.astype(np.float64) / 32768
    natural = np.abs(np.diff(samples[: 48000 // 2])).max()
    for join in (1.0131, 1.0131 + 0.4923):
        at = round(join * 48000)
        around = samples[at - 480 : at + 480]
        assert np.abs(np.diff(around)).max() <= natural * 1.5


def test_nothing_to_cut_gives_a_copy(tmp_path):
    talk = make_talk(tmp_path / "talk.wav", [(2.0, True), (0.2, False), (2.0, True)], video=False)
    out = tmp_path / "out.wav"

    result = remove_silence(talk, out)

    assert result["removed_seconds"] == 0
    assert out.read_bytes() == talk.read_bytes()


def test_a_recording_the_caller_has_probed_is_not_probed_again(tmp_path, monkeypatch):
    talk = make_talk(tmp_path / "talk.wav", [(2.0, True), (0.2, False), (2.0, True)], video=False)
    info = probe(talk)

    def no_second_probe(path):
        raise AssertionError(f"{path} was probed again")

    monkeypatch.setattr(jobs.silence, "probe", no_second_probe)
    result = remove_silence(talk, tmp_path / "out.wav", info=info)

    assert result["render"]["copied_seconds"] == round(info.duration, 6)


def test_video_without_sound_is_refused(tmp_path):
    video = make_video(tmp_path / "mute.mp4", seconds=2, audio=False)

    with pytest.raises(MediaError, match="no sound to find pauses in"):
        remove_silence(video, tmp_path / "out.mp4")


def test_a_clip_too_short_is_refused(tmp_path):
    clip = make_talk(tmp_path / "blip.mp4", [(0.2, True)])

    with pytest.raises(MediaError, match="too short"):
        remove_silence(clip, tmp_path / "out.mp4")


def test_a_silent_recording_is_refused_and_leaves_no_file(tmp_path):
    silent = make_talk(tmp_path / "silent.mp4", [(3.0, False)])
    out_dir = tmp_path / "out"
    out_dir.mkdir()

    with pytest.raises(MediaError, match="silent"):
        remove_silence(silent, out_dir / "out.mp4")

    assert list(out_dir.iterdir()) == []


def test_a_failed_render_leaves_no_partial_file(talk_wav, tmp_path):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    cutlist = CutList(12.0, [(0.0, 3.0), (5.0, 8.0)])
    # An extension Cutroom does not write: refused before any work (jobs.containers).
    with pytest.raises(MediaError):
        render_cut(talk_wav, out_dir / "out.nosuchformat", cutlist)

    assert list(out_dir.iterdir()) == []


def test_progress_is_continuous_and_named(smart_talk, tmp_path):
    seen = []

    remove_silence(
        smart_talk, tmp_path / "out.mp4", on_progress=lambda percent, stage: seen.append((percent, stage))
    )

    percents = [percent for percent, _ in seen]
    assert percents == sorted(percents)
    assert percents[-1] == 100
    stages = {stage for _, stage in seen}
    assert "Detecting pauses" in stages and "Joining" in stages
    assert any(stage.startswith("Encoding 1 of") for stage in stages)


def test_a_smart_render_that_fails_its_check_is_redone_in_full(smart_talk, tmp_path, monkeypatch):
    # Stand-in for a player-breaking stream: the check is the one thing that can reject it.
    monkeypatch.setattr(verify, "fault", lambda *args: "decoding errors: simulated")
    out = tmp_path / "out.mp4"

    result = remove_silence(smart_talk, out)

    assert result["render"]["mode"] == "reencode"
    assert result["render"]["fallback_reason"] == "decoding errors: simulated"
    assert decode_errors(out) == ""
    assert_lengths_hold(out, result["kept_duration"])
    assert [path.name for path in tmp_path.iterdir()] == ["out.mp4"]


def test_a_garbled_edge_fails_the_check_and_is_redone_in_full(smart_talk, tmp_path, monkeypatch):
    edge_packet = h264.edge_packet

    def garbled(packet, length_size):
        for shown, data, keyframe in edge_packet(packet, length_size):
            if not keyframe:  # the slice data of every re-encoded frame after the first
                data = data[:8] + bytes(byte ^ 0x5A for byte in data[8:])
            yield shown, data, keyframe

    monkeypatch.setattr(h264, "edge_packet", garbled)
    out = tmp_path / "out.mp4"

    result = remove_silence(smart_talk, out)

    assert result["render"]["mode"] == "reencode"
    assert result["render"]["fallback_reason"].startswith("decoding errors")
    assert decode_errors(out) == ""
    assert_lengths_hold(out, result["kept_duration"])


def test_a_broken_join_fails_the_check_and_is_redone_in_full(smart_talk, tmp_path, monkeypatch):
    # Every copied run after a join gets the parameter sets of another video (another size).
    with av.open(str(make_video(tmp_path / "other.mp4", seconds=1, size="64x48", audio=False))) as other:
        foreign = other.streams.video[0].codec_context.extradata
    parameter_sets = h264.parameter_sets
    monkeypatch.setattr(h264, "parameter_sets", lambda extradata, size: parameter_sets(foreign, size))
    out = tmp_path / "out.mp4"

    result = remove_silence(smart_talk, out)

    assert result["render"]["mode"] == "reencode"
    assert result["render"]["fallback_reason"].startswith("decoding errors")
    assert decode_errors(out) == ""


def test_the_check_finds_a_frame_lost_where_it_decodes_nothing(smart_talk, tmp_path):
    # A packet gone from the middle of a GOP, the file's length unchanged: only the packets tell.
    lost = tmp_path / "lost.mp4"
    with av.open(str(smart_talk)) as source, av.open(str(lost), "w") as out:
        video = source.streams.video[0]
        target = out.add_stream_from_template(video)
        packets = [packet for packet in source.demux(video) if packet.pts is not None]
        for number, packet in enumerate(packets):
            if number != len(packets) // 2:
                packet.stream = target
                out.mux(packet)
    rate = video.average_rate
    frames = len(packets)

    assert verify.misplaced_frames(smart_talk, frames, rate) is None
    assert verify.misplaced_frames(lost, frames, rate).startswith("frames out of place from frame")


class Cancelled(Exception):
    """Raised by a progress callback, as the worker does when a task is cancelled."""


def test_a_cancel_from_the_progress_callback_ends_a_smart_render(smart_talk, tmp_path):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    cutlist = CutList(probe(smart_talk).duration, [(0.0, 3.3), (5.1, 12.7), (14.02, 24.0)])
    stages = []

    def cancel_at_the_first_edge(percent, stage):
        stages.append(stage)
        if stage.startswith("Encoding 1 of"):
            raise Cancelled

    with pytest.raises(Cancelled):
        render_cut(smart_talk, out_dir / "out.mp4", cutlist, on_progress=cancel_at_the_first_edge)

    assert stages[-1].startswith("Encoding 1 of")  # nothing after it: no full re-encode started
    assert list(out_dir.iterdir()) == []


def test_a_given_probe_is_used_instead_of_probing_again(talk_wav, tmp_path, monkeypatch):
    info = probe(talk_wav)
    monkeypatch.setattr("jobs.render.probe", lambda path: pytest.fail("probed again"))

    result = render_cut(talk_wav, tmp_path / "out.wav", CutList(12.0, [(0.0, 3.0)]), info=info)

    assert result["mode"] == "audio"


def test_a_cut_into_thousands_of_clips_is_re_encoded(tmp_path):
    # An editor's cut of a long talk keeps thousands of clips: ffmpeg's expression parser nests
    # deeper with every "+" term of a flat sum (it refused a 101st), and the whole expression
    # passed the 128 KiB one command-line argument may hold at about 3,500.
    talk = make_video(tmp_path / "talk.mp4", seconds=320, size="64x48", audio=False)
    keep = [(2 * n / 25, (2 * n + 1) / 25) for n in range(4000)]  # every other frame
    out = tmp_path / "out.mp4"

    result = render_cut(talk, out, CutList(320.0, keep))

    assert result["mode"] == "reencode" and result["segments"] == 4000
    assert decode_errors(out) == ""
    with av.open(str(out)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 4000


def test_sound_padded_to_whole_aac_frames_passes_the_check(tmp_path):
    # 2.2 s of sound is 103.125 AAC frames: stored with the encoder's priming and the last frame's
    # padding it lasts 40 ms longer than the picture, more than a frame at 30 fps, yet plays right.
    talk = make_video(tmp_path / "talk.mp4", seconds=10, fps=30)
    out = tmp_path / "out.mp4"

    result = render_cut(talk, out, CutList(probe(talk).duration, [(0.0, 2.2)]))

    assert result["mode"] == "smart", result.get("fallback_reason")
    assert_lengths_hold(out, 2.2)
