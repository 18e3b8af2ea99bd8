"""Transcription with the packaged tiny.en model on espeak-ng speech, subtitle files, fitting to a cut."""

# ruff: noqa: E402 — the Hugging Face hub reads HF_HUB_OFFLINE when faster-whisper imports it.
import os

os.environ["HF_HUB_OFFLINE"] = "1"

import copy
import json
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

import jobs.transcribe as transcribe_module
from jobs.cutlist import CutList
from jobs.errors import MediaError
from jobs.ffmpeg import ffmpeg_exe
from jobs.subtitles import (
    MAX_CUE_SECONDS,
    MAX_LINE_CHARS,
    build_cues,
    fit_to_cut,
    to_srt,
    to_vtt,
    write_outputs,
)
from jobs.transcribe import default_model_path, load_model, transcribe
from tests.media import espeak_exe, make_audio, make_spoken, make_video

SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "Seven orange boxes were stacked beside the kitchen door.",
    "Please bring the quarterly figures to the meeting on Monday.",
)
# The words that show the sentence was understood; "the", "over", "to" would match anything.
KEY_WORDS = (
    {"quick", "brown", "fox", "jumps", "lazy", "dog"},
    {"seven", "orange", "boxes", "stacked", "beside", "kitchen", "door"},
    {"bring", "quarterly", "figures", "meeting", "monday"},
)
PAUSE = 1.5
TIMESTAMP = r"(\d\d):(\d\d):(\d\d)[,.](\d\d\d)"


@dataclass
class Spoken:
    src: Path
    spans: list[tuple[float, float]]
    out_dir: Path
    result: dict
    progress: list[tuple[float, str]]
    transcript: dict


def needs_espeak():
    if espeak_exe() is None:
        pytest.skip("espeak-ng is not installed, so there is no way to generate test speech")


@pytest.fixture(scope="module")
def spoken(tmp_path_factory) -> Spoken:
    """The three sentences with pauses, transcribed once for all the checks on the result."""
    needs_espeak()
    folder = tmp_path_factory.mktemp("speech")
    src, spans = make_spoken(folder / "speech.wav", SENTENCES, pause=PAUSE)
    progress = []
    result = transcribe(src, folder / "out", on_progress=lambda p, s: progress.append((p, s)))
    transcript = json.loads((folder / "out" / "transcript.json").read_text())
    return Spoken(src, spans, folder / "out", result, progress, transcript)


def words_of(text: str) -> set[str]:
    return set(re.findall(r"[a-z']+", text.lower()))


def recognised_share(text: str, key_words) -> float:
    wanted = set().union(*key_words)
    return len(wanted & words_of(text)) / len(wanted)


def all_words(transcript: dict) -> list[dict]:
    return [w for segment in transcript["segments"] for w in segment["words"]]


def seconds(h, m, s, ms) -> float:
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000


def parse_cues(text: str, kind: str) -> list[tuple[float, float, list[str]]]:
    """(start, end, lines) of each cue of an SRT or WebVTT file, checking the layout on the way."""
    if kind == "vtt":
        header, _, text = text.partition("\n\n")
        assert header == "WEBVTT"
    separator = "," if kind == "srt" else "."
    cues = []
    for number, block in enumerate(text.strip().split("\n\n"), 1):
        lines = block.split("\n")
        if kind == "srt":
            assert lines.pop(0) == str(number)
        match = re.fullmatch(f"{TIMESTAMP} --> {TIMESTAMP}", lines[0])
        assert match, lines[0]
        assert lines[0].count(separator) == 2
        start, end = seconds(*match.groups()[:4]), seconds(*match.groups()[4:])
        assert lines[1:], "a cue without text"
        cues.append((start, end, lines[1:]))
    return cues


def check_cues(cues, duration: float) -> None:
    previous_end = 0.0
    for start, end, lines in cues:
        assert previous_end <= start < end <= duration + 0.001
        assert end - start <= MAX_CUE_SECONDS + 0.001
        assert 1 <= len(lines) <= 2
        assert all(0 < len(line) <= MAX_LINE_CHARS for line in lines), lines
        previous_end = end


# Transcribing real speech


def test_transcript_holds_most_of_the_spoken_words(spoken):
    text = (spoken.out_dir / "transcript.txt").read_text()
    assert recognised_share(text, KEY_WORDS) >= 0.7, text
    assert spoken.transcript["language"] == "en"
    assert spoken.transcript["model"] == "tiny.en"


def test_word_times_are_in_order_and_inside_the_recording(spoken):
    words = all_words(spoken.transcript)
    duration = spoken.transcript["duration"]
    assert duration == pytest.approx(spoken.spans[-1][1] + PAUSE, abs=0.05)
    assert len(words) >= 15
    for before, after in zip(words, words[1:], strict=False):
        assert before["start"] <= after["start"]
        assert before["end"] <= after["end"] + 0.001
    for word in words:
        assert 0 <= word["start"] <= word["end"] <= duration
        assert 0 <= word["probability"] <= 1
    # Each sentence's words start while it is spoken. (Whisper often stretches a sentence's last
    # word into the pause after it, but not into the next sentence.)
    next_starts = [start for start, _ in spoken.spans[1:]] + [duration]
    for (start, end), next_start, key_words in zip(spoken.spans, next_starts, KEY_WORDS, strict=True):
        heard = [w for w in words if words_of(w["word"]) & key_words]
        assert heard
        assert all(start - 0.5 <= w["start"] <= end and w["end"] <= next_start for w in heard)


def test_result_describes_the_outputs(spoken):
    result = spoken.result
    assert result["outputs"] == {
        "srt": "transcript.srt",
        "vtt": "transcript.vtt",
        "txt": "transcript.txt",
        "json": "transcript.json",
    }
    assert sorted(p.name for p in spoken.out_dir.iterdir()) == sorted(result["outputs"].values())
    assert result["segments"] == len(spoken.transcript["segments"]) >= 1
    assert result["words"] == len(all_words(spoken.transcript))
    assert result["language"] == "en"
    assert result["model"] == "tiny.en"
    assert result["duration"] == spoken.transcript["duration"]


def test_srt_and_vtt_parse_back_to_the_same_cues(spoken):
    srt = (spoken.out_dir / "transcript.srt").read_text()
    vtt = (spoken.out_dir / "transcript.vtt").read_text()
    assert vtt.startswith("WEBVTT\n\n")
    srt_cues, vtt_cues = parse_cues(srt, "srt"), parse_cues(vtt, "vtt")
    assert srt_cues == vtt_cues
    check_cues(srt_cues, spoken.transcript["duration"])
    # Every sentence ends a cue, so no cue spans a pause between sentences.
    assert len(srt_cues) >= len(SENTENCES)
    cue_text = " ".join(" ".join(lines) for _, _, lines in srt_cues)
    assert cue_text.split() == " ".join(s["text"] for s in spoken.transcript["segments"]).split()


def test_json_round_trips(spoken):
    again = spoken.out_dir.parent / "again"
    write_outputs(spoken.transcript, again)
    for name in spoken.result["outputs"].values():
        assert (again / name).read_text() == (spoken.out_dir / name).read_text()
    assert set(spoken.transcript) == {"language", "language_probability", "duration", "model", "segments"}
    segment = spoken.transcript["segments"][0]
    assert set(segment) == {"start", "end", "text", "words"}
    assert set(segment["words"][0]) == {"start", "end", "word", "probability"}


def test_progress_rises_to_100(spoken):
    percents = [p for p, _ in spoken.progress]
    assert percents[0] == 0
    assert percents[-1] == 100
    assert percents == sorted(percents)
    assert all(type(p) is float for p in percents)
    # Some progress is reported while the words come in, not only at the start and end.
    assert any(5 < p < 98 for p, stage in spoken.progress if stage == "Transcribing")


def test_transcribes_the_sound_of_a_video(tmp_path):
    needs_espeak()
    src, _ = make_spoken(tmp_path / "talk.mp4", SENTENCES[:1], pause=0.5, video=True)
    result = transcribe(src, tmp_path / "out")
    text = (tmp_path / "out" / "transcript.txt").read_text()
    assert recognised_share(text, KEY_WORDS[:1]) >= 0.7, text
    assert result["words"] >= 6


def test_fitted_subtitles_match_a_transcription_of_the_cut_audio(spoken, tmp_path):
    # Cut out the second sentence and the pause before it, as silence removal and a manual cut would.
    s0, s1, s2 = spoken.spans
    duration = spoken.transcript["duration"]
    cutlist = CutList(duration, [(0.0, s0[1] + 0.3), (s1[1] + 0.5, duration)])
    fitted = fit_to_cut(spoken.transcript, cutlist)
    fitted_words = all_words(fitted)

    assert not words_of(" ".join(s["text"] for s in fitted["segments"])) & KEY_WORDS[1]
    assert fitted["duration"] == pytest.approx(cutlist.kept_duration)
    for word in fitted_words:
        assert 0 <= word["start"] <= word["end"] <= cutlist.kept_duration + 0.001

    cut = tmp_path / "cut.wav"
    keep = "+".join(f"between(t,{a:.6f},{b:.6f})" for a, b in cutlist.keep)
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-y", "-i", str(spoken.src)]
        + ["-af", f"aselect='{keep}',asetpts=N/SR/TB", str(cut)],
        check=True,
    )
    transcribe(cut, tmp_path / "cut")
    direct = all_words(json.loads((tmp_path / "cut" / "transcript.json").read_text()))
    # Words heard in the cut audio sit where the fitted transcript puts the same words.
    matched = 0
    for word in direct:
        same = [w for w in fitted_words if words_of(w["word"]) == words_of(word["word"])]
        if same and min(abs(w["start"] - word["start"]) for w in same) <= 0.4:
            matched += 1
    assert matched >= 0.7 * len(direct)

    outputs = write_outputs(fitted, tmp_path / "fitted")
    check_cues(parse_cues((tmp_path / "fitted" / outputs["srt"]).read_text(), "srt"), cutlist.kept_duration)


# Model loading


def test_model_is_loaded_once_per_process(spoken, tmp_path, monkeypatch, caplog):
    caplog.set_level("INFO", logger="jobs.transcribe")
    constructed = []

    class CountingModel(transcribe_module.WhisperModel):
        def __init__(self, *args, **kwargs):
            constructed.append(args)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(transcribe_module, "WhisperModel", CountingModel)
    monkeypatch.setattr(transcribe_module, "_models", {})
    transcribe(spoken.src, tmp_path / "one")
    transcribe(spoken.src, tmp_path / "two", model=default_model_path())
    assert len(constructed) == 1
    assert caplog.text.count("Loading Whisper model tiny.en") == 1
    assert load_model() is load_model("") is load_model("tiny.en") is load_model(default_model_path() + "/")
    assert len(constructed) == 1


def test_forked_process_refuses_the_model_instead_of_hanging():
    load_model()
    pid = os.fork()
    if pid == 0:  # the child: CTranslate2 would hang here, so load_model must raise at once
        try:
            load_model()
        except RuntimeError:
            os._exit(0)
        os._exit(1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.02)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    pytest.fail("load_model in a forked child hung")


@pytest.mark.parametrize("model", ["/no/such/model/folder", "large-v3", "Systran/faster-whisper-small"])
def test_model_that_is_not_here_is_refused_quickly(model, tmp_path):
    started = time.monotonic()
    with pytest.raises(MediaError, match="model") as error:
        load_model(model)
    assert time.monotonic() - started < 5
    assert model in str(error.value)


def test_folder_that_is_not_a_model_is_refused(tmp_path):
    with pytest.raises(MediaError, match="could not be loaded"):
        load_model(str(tmp_path))


def test_english_only_model_refuses_another_language(spoken, tmp_path):
    with pytest.raises(MediaError, match="only English"):
        transcribe(spoken.src, tmp_path / "out", language="fr")
    assert transcribe(spoken.src, tmp_path / "out", language="en")["language"] == "en"


def test_unknown_language_code_is_refused(spoken, tmp_path):
    with pytest.raises(MediaError, match="not a language code"):
        transcribe(spoken.src, tmp_path / "out", language="klingon")


def test_sound_without_speech_gives_empty_subtitles(tmp_path):
    result = transcribe(make_audio(tmp_path / "tone.m4a", seconds=3), tmp_path / "out")
    assert (result["segments"], result["words"]) == (0, 0)
    assert (tmp_path / "out" / "transcript.vtt").read_text() == "WEBVTT\n\n"
    assert json.loads((tmp_path / "out" / "transcript.json").read_text())["segments"] == []


def test_file_without_sound_is_refused(tmp_path):
    src = make_video(tmp_path / "silent.mp4", seconds=1, audio=False)
    with pytest.raises(MediaError, match="no sound"):
        transcribe(src, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# Cues and fitting, on made-up transcripts


def word(text: str, start: float, end: float) -> dict:
    return {"start": start, "end": end, "word": " " + text, "probability": 0.9}


def segment(*words: dict) -> dict:
    return {
        "start": words[0]["start"],
        "end": words[-1]["end"],
        "text": "".join(w["word"] for w in words).strip(),
        "words": list(words),
    }


def test_fit_to_cut_drops_removed_words_and_shifts_the_rest():
    transcript = {
        "language": "en",
        "language_probability": 1.0,
        "duration": 10.0,
        "model": "tiny.en",
        "segments": [
            segment(word("One", 0.5, 0.9), word("two", 1.0, 1.5)),
            # A pause from 1.5 to 3.2; the cut takes 2.0-3.0 of it and 4.5-6.0 of the speech after.
            segment(
                word("three", 3.2, 3.6), word("four", 3.7, 4.1), word("five", 4.2, 4.8), word("six", 5.0, 5.5)
            ),
            segment(word("seven", 5.6, 5.9)),  # entirely inside the cut: the segment goes
            segment(word("eight", 6.5, 7.0), word("nine.", 7.2, 7.6)),
        ],
    }
    original = copy.deepcopy(transcript)
    cutlist = CutList(10.0, [(0.0, 2.0), (3.0, 4.5), (6.0, 10.0)])
    fitted = fit_to_cut(transcript, cutlist)

    assert transcript == original
    assert fitted["duration"] == pytest.approx(7.5)
    assert [s["text"] for s in fitted["segments"]] == ["One two", "three four five", "eight nine."]
    times = [(w["word"].strip(), round(w["start"], 3), round(w["end"], 3)) for w in all_words(fitted)]
    assert times == [
        ("One", 0.5, 0.9),
        ("two", 1.0, 1.5),
        ("three", 2.2, 2.6),  # 1 s of pause removed before it
        ("four", 2.7, 3.1),
        ("five", 3.2, 3.5),  # straddles the cut at 4.5: keeps 4.2-4.5
        ("eight", 4.0, 4.5),  # 1 s + 1.5 s removed before it
        ("nine.", 4.7, 5.1),
    ]
    assert [(s["start"], s["end"]) for s in fitted["segments"]] == [
        (w[0]["start"], w[-1]["end"]) for w in (s["words"] for s in fitted["segments"])
    ]


def test_long_speech_is_cut_into_short_two_line_cues():
    # 60 words at 0.3 s each without a sentence end, a pause after word 40, a comma after word 8.
    words, at = [], 0.0
    for i in range(60):
        text = f"word{i:02d}" + ("," if i == 8 else "")
        at += 1.0 if i == 40 else 0.05
        words.append(word(text, at, at + 0.25))
        at += 0.25
    words[-1]["word"] += "."
    transcript = {"duration": at + 1, "segments": [segment(*words)]}
    cues = build_cues(transcript)
    parsed = parse_cues(to_srt(cues), "srt")
    check_cues(parsed, transcript["duration"])
    texts = [" ".join(lines) for _, _, lines in parsed]
    assert texts[0].endswith("word08,")  # the full first cue is split after the comma
    assert any(t.endswith("word39") for t in texts)  # and a cue ends at the pause
    assert " ".join(texts).split() == [w["word"].strip() for w in words]
    assert parse_cues(to_vtt(cues), "vtt") == parsed


def test_timestamps_and_markup():
    transcript = {
        "duration": 3700.0,
        "segments": [
            segment(word("Fish", 3661.5, 3661.8), word("&", 3661.9, 3662.0), word("<chips>.", 3662.1, 3662.4))
        ],
    }
    cues = build_cues(transcript)
    assert to_srt(cues) == "1\n01:01:01,500 --> 01:01:02,400\nFish & <chips>.\n"
    assert to_vtt(cues) == "WEBVTT\n\n01:01:01.500 --> 01:01:02.400\nFish &amp; &lt;chips&gt;.\n\n"
    # A word stretched over a long pause does not keep its cue on screen for all of it.
    stretched = build_cues({"duration": 20, "segments": [segment(word("Well", 1.0, 11.0))]})
    assert (stretched[0].start, stretched[0].end) == (1.0, 1.0 + MAX_CUE_SECONDS)
    # A lone short word stays up long enough to be read.
    assert build_cues({"duration": 5, "segments": [segment(word("Yes.", 1.0, 1.2))]})[0].end == pytest.approx(
        1.8
    )
