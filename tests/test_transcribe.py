"""Transcription with the packaged tiny.en model on espeak-ng speech, subtitle files, fitting to a cut."""

# ruff: noqa: E402 — the Hugging Face hub reads HF_HUB_OFFLINE when faster-whisper imports it.
import os

os.environ["HF_HUB_OFFLINE"] = "1"

import copy
import json
import random
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from faster_whisper.tokenizer import _LANGUAGE_CODES

import jobs.transcribe as transcribe_module
from jobs.cutlist import CutList
from jobs.errors import MediaError
from jobs.ffmpeg import ffmpeg_exe
from jobs.models import english_only, model_languages
from jobs.probe import probe
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
from tests.media import (
    espeak_exe,
    make_audio,
    make_gapped_phrases,
    make_noise,
    make_silent_video,
    make_spoken,
    make_video,
)
from tests.test_uploads import upload
from webapp import db
from webapp.models import Item, Task

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
# Short phrases with pauses of known length between them: each first word starts, and each last word
# ends, where the voice does.
GAPPED_PHRASES = (
    "Good morning everyone",
    "orange boxes",
    "please open the window",
    "beside the kitchen door",
    "the quarterly figures",
    "on Monday afternoon",
    "bring your camera",
    "a quiet violinist",
    "turn left at the bakery",
    "the battery lasts four hours",
    "yesterday",
    "the river rose above the bridge",
)
# A real recording: the speaker is silent from 17.3 s until "banana" at 39.9 s (see tests/media/README.md).
EXAMPLE = Path(__file__).parent / "media" / "example.mp4"
INTERVIEW = Path(__file__).parent / "media" / "timbl_1.mp3"  # 48 s of speech without a long pause
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
    monkeypatch.setattr(transcribe_module, "LOADED", {})
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


def test_a_recording_the_caller_has_probed_is_not_probed_again(tmp_path, monkeypatch):
    src = make_video(tmp_path / "silent.mp4", seconds=1, audio=False)
    info = probe(src)

    def no_second_probe(path):
        raise AssertionError(f"{path} was probed again")

    monkeypatch.setattr(transcribe_module, "probe", no_second_probe)
    with pytest.raises(MediaError, match="no sound"):
        transcribe(src, tmp_path / "out", info=info)


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
                word("three", 3.2, 3.6), word("four", 3.7, 4.1), word("five", 4.2, 4.7), word("six", 5.0, 5.5)
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
        ("five", 3.2, 3.5),  # straddles the cut at 4.5, its middle kept: keeps 4.2-4.5
        ("eight", 4.0, 4.5),  # 1 s + 1.5 s removed before it
        ("nine.", 4.7, 5.1),
    ]
    assert [(s["start"], s["end"]) for s in fitted["segments"]] == [
        (w[0]["start"], w[-1]["end"]) for w in (s["words"] for s in fitted["segments"])
    ]


def test_a_word_whose_middle_is_cut_is_gone_from_the_subtitles_as_in_the_editor():
    """The editor strikes through a word whose middle is cut; frame snapping may leave a few
    milliseconds of it, which nobody hears, and the subtitles must not show it either."""
    transcript = {"segments": [segment(word("keep", 0.5, 1.0), word("including", 8.42, 9.14))]}
    fitted = fit_to_cut(transcript, CutList(10.0, [(0.0, 7.94), (9.1333, 10.0)]))
    assert [w["word"].strip() for w in all_words(fitted)] == ["keep"]


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


# No invented words, and word edges where the voice starts and stops


def boundary_errors(words: list[dict], phrases, spans) -> tuple[list[float], int]:
    """For each phrase, how far the transcript's start of its first word and end of its last word
    are from where its voice starts and stops; and how many of those edges found no such word."""
    errors, missing = [], 0
    for phrase, (start, end) in zip(phrases, spans, strict=True):
        spoken_words = phrase.lower().split()
        first, last = spoken_words[0], spoken_words[-1]
        for text, truth, edge in ((first, start, "start"), (last, end, "end")):
            distances = [abs(w[edge] - truth) for w in words if words_of(w["word"]) == {text}]
            near = [d for d in distances if d < 1.5]
            if near:
                errors.append(min(near))
            else:
                missing += 1
    return errors, missing


def test_word_edges_sit_where_the_voice_starts_and_stops(tmp_path):
    needs_espeak()
    pick = random.Random(7)
    gaps = [round(pick.uniform(0.4, 2.5), 2) for _ in GAPPED_PHRASES]
    spans = make_gapped_phrases(tmp_path / "phrases.wav", GAPPED_PHRASES, gaps)
    transcribe(tmp_path / "phrases.wav", tmp_path / "out")
    words = all_words(json.loads((tmp_path / "out" / "transcript.json").read_text()))

    errors, missing = boundary_errors(words, GAPPED_PHRASES, spans)
    errors.sort()
    median, p90 = statistics.median(errors), errors[int(0.9 * len(errors))]
    print(f"\nword-boundary error over {len(errors)} edges: median {median:.3f} s, p90 {p90:.3f} s")
    assert missing <= 0.2 * 2 * len(GAPPED_PHRASES), [w["word"] for w in words]
    assert median < 0.15


@pytest.mark.parametrize("vad", [True, False], ids=["vad", "no-vad"])
def test_words_of_a_real_clip_start_when_the_voice_does(tmp_path, vad):
    transcribe(EXAMPLE, tmp_path / "out", vad=vad)
    words = all_words(json.loads((tmp_path / "out" / "transcript.json").read_text()))
    # Whisper used to time the last word from 38.9 s, a second before the speaker says it.
    assert [w for w in words if w["end"] > 17.6 and w["start"] < 39.8] == []
    assert words[-1]["start"] >= 39.8
    assert "banana" in words_of(words[-1]["word"])
    assert words_of(" ".join(w["word"] for w in words)) >= {"hello", "example", "video", "banana"}


def reference_words(path: Path) -> list[str]:
    """The words of a reference transcript (tests/media/*.txt), as words_of counts them, in order."""
    lines = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    return re.findall(r"[a-z0-9']+", " ".join(lines).lower().replace("[", "").replace("]", ""))


def test_the_real_clip_is_transcribed_as_its_reference_says(tmp_path):
    transcribe(EXAMPLE, tmp_path / "out")
    words = all_words(json.loads((tmp_path / "out" / "transcript.json").read_text()))
    said = re.findall(r"[a-z0-9']+", " ".join(w["word"] for w in words).lower())
    # Heard in clips on the recording's own timeline, the "banana" said alone at 40 s stays a word
    # of its own (faster-whisper's voice filter glued it to the sentence before: "I will save an end").
    assert said == reference_words(EXAMPLE.with_suffix(".txt"))


def test_speech_longer_than_whispers_window_is_heard_to_its_end(tmp_path):
    # The batched pipeline hears only the first 30 s of a clip: one longer is split at a short pause.
    transcribe(INTERVIEW, tmp_path / "out")
    words = all_words(json.loads((tmp_path / "out" / "transcript.json").read_text()))
    assert words[-1]["end"] > 46.0
    assert len(words) > 0.9 * len(reference_words(INTERVIEW.with_suffix(".txt")))
    assert [w for w in words if 28 < w["start"] < 32]  # nothing lost where a window ends


def test_speech_clips_fit_whispers_window_and_cover_the_speech():
    from faster_whisper.audio import decode_audio

    clips = transcribe_module.speech_clips(decode_audio(str(INTERVIEW)))
    assert all(clip["end"] - clip["start"] <= transcribe_module.CLIP_SECONDS for clip in clips)
    assert clips[0]["start"] < 1.0 and clips[-1]["end"] > 47.0
    assert all(a["end"] <= b["start"] for a, b in zip(clips, clips[1:], strict=False))


def test_speech_to_the_last_sample_of_an_odd_length_is_heard():
    # Cut mid-sentence 9 samples past a whole millisecond (a decoded sound file's length is any
    # number of samples): a clip rounded up past the end made the pipeline fail its own check.
    from faster_whisper.audio import decode_audio

    audio = decode_audio(str(INTERVIEW))[: 20 * transcribe_module.SAMPLE_RATE + 9]
    clips = transcribe_module.speech_clips(audio)
    assert clips[-1]["end"] > 19.5 and clips[-1]["end"] <= len(audio) / transcribe_module.SAMPLE_RATE
    segments, _, _ = transcribe_module._hear(load_model(None), audio, "en", True, None)
    assert len(" ".join(segment.text for segment in segments).split()) > 30


@pytest.mark.parametrize("vad", [True, False], ids=["vad", "no-vad"])
def test_no_words_where_nobody_speaks(tmp_path, vad):
    # A muted camera used to be transcribed as "You".
    for src in (make_silent_video(tmp_path / "muted.mp4"), make_noise(tmp_path / "hiss.m4a")):
        result = transcribe(src, tmp_path / src.stem, vad=vad)
        assert (result["segments"], result["words"]) == (0, 0), src.name
        assert (tmp_path / src.stem / "transcript.txt").read_text().strip() == ""


def test_fit_to_sound_moves_edges_to_the_voice_and_drops_doubtful_words_in_silence():
    # 10 ms levels: a voice from 1.00 to 2.00 s with a 50 ms dip at 1.5 s, silence around it.
    levels = np.full(400, -90.0, np.float32)
    levels[100:200] = -20.0
    levels[150:155] = -60.0
    segments = [
        segment(word("early", 0.60, 1.30), word("mid", 1.30, 1.70), word("late", 1.70, 2.80)),
        segment({**word("invented", 3.00, 3.50), "probability": 0.1}),
    ]
    fitted = transcribe_module.fit_to_sound(segments, levels)
    times = [(w["word"].strip(), w["start"], w["end"]) for w in all_words({"segments": fitted})]
    assert times == [("early", 1.0, 1.3), ("mid", 1.3, 1.7), ("late", 1.7, 2.0)]
    assert [s["text"] for s in fitted] == ["early mid late"]
    assert transcribe_module.fit_to_sound(segments, np.full(400, -100.0, np.float32)) == []


def test_cli_runs_with_and_without_the_voice_filter(tmp_path):
    muted = make_silent_video(tmp_path / "muted.mp4", seconds=3)
    for flag in ("--vad", "--no-vad"):
        out = tmp_path / flag
        done = subprocess.run(
            [sys.executable, "-m", "jobs", "transcribe", str(muted), "--out-dir", str(out), flag],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent.parent,
        )
        assert done.returncode == 0, done.stderr
        assert "0 words" in done.stdout + done.stderr


# Languages: what the installed model can do


def test_english_only_models_are_known_without_loading_them():
    assert english_only() and english_only("tiny.en") and english_only(default_model_path())
    assert english_only("/srv/models/whisper-base.en")
    assert not english_only("small") and not english_only("large-v3")
    assert model_languages() == {"en": "English"}
    assert set(model_languages("small")) == set(_LANGUAGE_CODES)


def language_select(page: str) -> str:
    return re.search(r'<select[^>]*name="language".*?</select>', page, re.S).group(0)


def test_form_offers_only_english_for_an_english_model(app, client, logged_in, tmp_path):
    page = client.get("/videos/new").get_data(as_text=True)
    select = language_select(page)
    assert re.findall(r"<option[^>]*>([^<]*)</option>", select) == ["English"]
    assert "disabled" in select
    assert "understands only English" in page
    assert re.search(r'<input[^>]*checked[^>]*name="vad"|<input[^>]*name="vad"[^>]*checked', page)

    audio = make_audio(tmp_path / "talk.m4a", seconds=2)
    refused = upload(client, audio, transcribe="y", language="fr")
    assert refused.status_code == 400
    assert "tiny.en understands only English" in refused.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(db.select(Item)) is None
    # The disabled select sends nothing: English it is.
    assert upload(client, audio, transcribe="y", vad="y").status_code == 303
    with app.app_context():
        task = db.session.scalar(db.select(Task).filter_by(kind="transcribe"))
        assert task.params == {"language": "en", "vad": True}


def test_form_offers_every_language_for_a_multilingual_model(app, client, logged_in, tmp_path):
    app.config["TRANSCRIBE_MODEL"] = "small"  # only its name: nothing is loaded to build the form
    page = client.get("/videos/new").get_data(as_text=True)
    select = language_select(page)
    names = re.findall(r"<option[^>]*>([^<]*)</option>", select)
    assert names[0] == "Detect" and {"English", "French", "German", "Japanese"} <= set(names)
    assert len(names) == 1 + len(_LANGUAGE_CODES) and "disabled" not in select

    audio = make_audio(tmp_path / "talk.m4a", seconds=2)
    refused = upload(client, audio, transcribe="y", language="xx")
    assert refused.status_code == 400 and "Choose a language from the list" in refused.get_data(as_text=True)
    assert upload(client, audio, transcribe="y", language="fr").status_code == 303
    with app.app_context():
        task = db.session.scalar(db.select(Task).filter_by(kind="transcribe"))
        assert task.params["language"] == "fr"


def test_item_page_says_when_no_speech_was_heard(app, client, logged_in, tmp_path, run_worker):
    muted = make_silent_video(tmp_path / "muted.mp4", seconds=3)
    assert upload(client, muted, transcribe="y", vad="y").status_code == 303
    run_worker("media", "transcribe")
    with app.app_context():
        item = db.session.scalar(db.select(Item))
        assert {t.kind: t.status for t in item.tasks}["transcribe"] == Task.DONE
        item_id = item.id
    page = client.get(f"/videos/{item_id}").get_data(as_text=True)
    assert "No speech was heard in this recording." in page
