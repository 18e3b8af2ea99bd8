"""The editor's suggestions: fillers, retakes and pauses on hand-made words, the sound analysis,
and fillers planted in generated speech found through transcription."""

# ruff: noqa: E402 — the Hugging Face hub reads HF_HUB_OFFLINE when faster-whisper imports it.
import os

os.environ["HF_HUB_OFFLINE"] = "1"

import json
import subprocess
import sys

import numpy as np
import pytest

from jobs.edit import word_spans, words
from jobs.errors import MediaError
from jobs.suggest import DEFAULT_PHRASES, HEARD_TEXT, PAUSE_MARGIN, SOUND_TEXT, suggestions
from jobs.suggest_audio import LISTENING, analyse, hesitations
from jobs.transcribe import transcribe
from tests.helpers import ROOT
from tests.media import SPEECH_RATE, espeak_exe, make_disfluent, make_silent_video, make_video, write_track

WORD = 0.3  # seconds each hand-made word lasts
GAP = 0.1  # between hand-made words
BREAK = 0.8  # where a hand-made text has "/"


def said(text: str) -> list[dict]:
    """`text` as jobs.edit.words() gives a transcript's words: each WORD long, GAP apart, with BREAK
    at each "/" (a pause)."""
    found, at = [], 0.5
    for token in text.split():
        if token == "/":
            at += BREAK - GAP
            continue
        found.append(
            {
                "id": len(found),
                "text": token,
                "start": round(at, 3),
                "end": round(at + WORD, 3),
                "para": False,
            }
        )
        at += WORD + GAP
    return found


def suggest(text: str, analysis: dict | None = None, phrases=DEFAULT_PHRASES, pause_length: float = 0.3):
    found = said(text)
    return found, suggestions(found, word_spans(found, found[-1]["end"] + 1), analysis, phrases, pause_length)


def of_kind(found: list[dict], kind: str) -> list[dict]:
    return [s for s in found if s["kind"] == kind]


def test_hesitations_are_fillers_whatever_their_case_punctuation_or_length():
    found, result = suggest("Um, I think uh the plan UHH works, hmm... Erm we ship")
    fillers = of_kind(result, "filler")
    assert [f["text"] for f in fillers] == ["Um,", "uh", "UHH", "hmm...", "Erm"]
    spans = word_spans(found, found[-1]["end"] + 1)
    assert fillers[1]["words"] == [3] and fillers[1]["cut"] == list(spans[3])
    assert fillers[1]["start"] == found[3]["start"] and fillers[1]["end"] == found[3]["end"]


def test_phrases_of_several_words_are_fillers_only_as_an_aside():
    _, result = suggest("It is, you know, late. Do you know the way? I mean, sort of. A kind of fish")
    fillers = of_kind(result, "filler")
    assert [(f["text"], f["words"]) for f in fillers] == [
        ("you know,", [2, 3]),
        ("I mean,", [10, 11]),
        ("sort of.", [12, 13]),
    ]


def test_a_phrase_after_a_pause_is_an_aside_too():
    _, result = suggest("we went / kind of / home")
    assert [f["text"] for f in of_kind(result, "filler")] == ["kind of"]


def test_the_persons_own_phrases_replace_the_defaults():
    _, result = suggest("Um, basically, we are like done", phrases=["Basically", "LIKE", "um"])
    assert [f["text"] for f in of_kind(result, "filler")] == ["Um,", "basically,"]
    _, result = suggest("Um, basically, we are like, done", phrases=["basically", "like"])
    assert [f["text"] for f in of_kind(result, "filler")] == ["basically,", "like,"]


def test_a_word_said_twice_quickly_is_a_stutter_to_cut_once():
    _, result = suggest("I saw the the harbour")
    [stutter] = of_kind(result, "filler")
    assert stutter["text"] == "the the" and stutter["words"] == [2]
    assert not of_kind(result, "retake")


def test_a_word_after_a_punctuation_mark_is_no_stutter():
    _, result = suggest("a calendar for you, you need to compare")
    assert not result


def test_a_phrase_said_again_is_a_retake_cut_from_the_first_take_to_the_second():
    found, result = suggest("So the harbour project is / the harbour project is three weeks ahead")
    [retake] = of_kind(result, "retake")
    spans = word_spans(found, found[-1]["end"] + 1)
    assert retake["words"] == [1, 2, 3, 4]
    assert retake["cut"] == [spans[1][0], spans[5][0]]
    assert (retake["start"], retake["end"]) == (found[1]["start"], found[5]["start"])
    assert retake["text"] == "the harbour project is…"


def test_a_first_take_ending_differently_and_fillers_between_takes_are_a_retake():
    _, result = suggest("the harbour project was. um / the harbour project is ready")
    [retake] = of_kind(result, "retake")
    assert retake["words"] == [0, 1, 2, 3, 4]
    assert [f["text"] for f in of_kind(result, "filler")] == ["um"]


def test_a_hesitation_heard_between_two_takes_goes_with_the_first():
    # Whisper timed the second take from 2.4 s, over an "uh" heard until 2.75 s: "first" follows at 2.8 s.
    found = said("the first draft / the first draft is late")
    analysis = {"duration": 5, "pauses": [], "hesitations": [[2.4, 2.75]], "sounds": []}
    [retake] = suggestions(found, word_spans(found, 5), analysis, DEFAULT_PHRASES, 0.3)
    assert retake["kind"] == "retake" and retake["cut"][1] == pytest.approx(2.8)


def test_a_chain_of_takes_is_one_retake():
    _, result = suggest("the harbour... / the harbour project / the harbour project is ready")
    [retake] = of_kind(result, "retake")
    assert retake["words"] == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(
    "text",
    [
        "the project is late / we talked about the budget and the new office for a while, then the "
        "printer and the trains, and lunch / the project is late",  # too far apart
        "we put it on the left and on the right",  # a pattern of speech
        "one by one and step by step",
        "I went to the shop and I went to the bank",  # no break before the second
        "a replacement for the web. The web continues",  # a sentence ended, the next began alike
    ],
)
def test_repeats_that_are_not_retakes(text):
    _, result = suggest(text)
    assert not of_kind(result, "retake")


def test_pauses_are_cut_less_a_margin_when_longer_than_the_length_kept():
    found = said("hello there / general")
    analysis = {"duration": 5, "pauses": [[0.0, 0.5], [1.3, 2.0], [2.0, 2.2]], "sounds": []}
    result = suggestions(found, word_spans(found, 5), analysis, DEFAULT_PHRASES, 0.3)
    assert [(p["start"], p["end"], p["cut"]) for p in of_kind(result, "pause")] == [
        (0.0, 0.5, pytest.approx([PAUSE_MARGIN, 0.5 - PAUSE_MARGIN])),
        (1.3, 2.0, pytest.approx([1.3 + PAUSE_MARGIN, 2.0 - PAUSE_MARGIN])),
    ]
    result = suggestions(found, word_spans(found, 5), analysis, DEFAULT_PHRASES, 0.6)
    assert [p["start"] for p in of_kind(result, "pause")] == [1.3]


def test_a_pause_across_the_middle_of_a_word_is_no_pause():
    found = said("hello there")  # "there" from 0.9 to 1.2
    analysis = {"duration": 3, "pauses": [[0.8, 1.25]], "sounds": []}
    assert not suggestions(found, word_spans(found, 3), analysis, DEFAULT_PHRASES, 0.3)


def test_a_sound_between_words_is_an_unwritten_filler():
    found = said("the plan / works")  # "plan" ends at 1.2, "works" starts at 1.9
    analysis = {"duration": 3, "pauses": [], "sounds": [[1.4, 1.7]]}
    [sound] = suggestions(found, word_spans(found, 3), analysis, DEFAULT_PHRASES, 0.3)
    assert (sound["kind"], sound["text"], sound["words"]) == ("filler", SOUND_TEXT, [])
    assert sound["cut"] == [1.35, 1.75]


def test_a_sound_next_to_a_written_hesitation_is_that_hesitation():
    found = said("the plan / uh works")  # Whisper wrote "uh" late: 1.9 to 2.2
    analysis = {"duration": 4, "pauses": [], "sounds": [[1.4, 1.7]]}
    [filler] = suggestions(found, word_spans(found, 4), analysis, DEFAULT_PHRASES, 0.3)
    assert filler["words"] == [2]
    assert filler["start"] == 1.4 and filler["cut"][0] == 1.35


def test_a_hesitation_heard_under_a_word_whisper_stretched_over_it_is_a_filler():
    found = said("the river rose above")  # "river" ends at 1.2; "rose" 1.3–1.6, drawn over an "er"
    analysis = {"duration": 3, "pauses": [], "hesitations": [[1.25, 1.45]], "sounds": []}
    [filler] = suggestions(found, word_spans(found, 3), analysis, DEFAULT_PHRASES, 0.3)
    assert (filler["kind"], filler["text"], filler["words"]) == ("filler", HEARD_TEXT, [])
    assert filler["cut"] == [1.2, 1.5]  # a margin around it, but none into "river"


def test_a_hesitation_heard_again_beside_the_written_one_grows_it():
    found = said("the plan / uh works")  # "uh" written at 1.9 to 2.2, heard from 1.4
    analysis = {"duration": 4, "pauses": [], "hesitations": [[1.4, 2.2]], "sounds": [[1.4, 1.7]]}
    [filler] = suggestions(found, word_spans(found, 4), analysis, DEFAULT_PHRASES, 0.3)
    assert filler["words"] == [2] and filler["start"] == 1.4


def test_a_heard_hesitation_takes_in_the_voice_beside_it():
    sound = np.zeros(300, bool)
    sound[50:100] = sound[120:150] = sound[200:250] = True  # "plan" 0.5–1.0, "uh" 1.2–1.5, "works" 2.0–2.5
    heard = [
        {"id": 0, "text": "plan", "start": 0.5, "end": 1.0, "para": False},
        {"id": 1, "text": "uh,", "start": 1.95, "end": 2.0, "para": False},  # squeezed against "works"
        {"id": 2, "text": "works", "start": 2.0, "end": 2.5, "para": False},
    ]
    assert hesitations(heard, sound) == [[1.2, 2.0]]


def test_a_sound_running_into_a_word_is_that_word():
    found = said("the plan / works")
    analysis = {"duration": 3, "pauses": [], "sounds": [[1.5, found[2]["start"] - 0.05]]}
    assert not suggestions(found, word_spans(found, 3), analysis, DEFAULT_PHRASES, 0.3)


def test_suggestions_are_in_order_with_ids_that_stay_the_same():
    found = said("um the harbour / the harbour is, you know, ready / um")
    analysis = {"duration": 9, "pauses": [[1.7, 2.4]], "sounds": [[6.0, 6.3]]}
    first = suggestions(found, word_spans(found, 9), analysis, DEFAULT_PHRASES, 0.3)
    again = suggestions(found, word_spans(found, 9), json.loads(json.dumps(analysis)), DEFAULT_PHRASES, 0.3)
    assert first == again
    assert [s["start"] for s in first] == sorted(s["start"] for s in first)
    assert len({s["id"] for s in first}) == len(first)
    assert {s["kind"] for s in first} == {"filler", "retake", "pause"}


def test_the_web_process_builds_suggestions_without_loading_media_code():
    script = (
        "import sys, jobs.suggest; print(*[m for m in ('numpy', 'av', 'faster_whisper') if m in sys.modules])"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == ""


def test_analysis_finds_the_pauses_and_the_sounds_no_word_covers(tmp_path):
    rate, tone = SPEECH_RATE, lambda seconds: 0.3 * np.sin(np.arange(int(seconds * SPEECH_RATE)) * 0.05)
    quiet = lambda seconds: np.zeros(int(seconds * rate))  # noqa: E731
    # A "word" 0.5–1.5 s, a sound 2.0–2.4 s no word covers, a "word" 3.0–4.0 s.
    samples = np.concatenate(
        [quiet(0.5), tone(1.0), quiet(0.5), tone(0.4), quiet(0.6), tone(1.0), quiet(0.5)]
    )
    src = write_track(tmp_path / "talk.wav", samples.astype(np.float32))
    transcript = {"segments": [{"start": 0.5, "end": 4.0, "words": [
        {"word": " one", "start": 0.5, "end": 1.5, "probability": 0.9},
        {"word": " two", "start": 3.0, "end": 4.0, "probability": 0.9},
    ]}]}  # fmt: skip
    analysis = analyse(src, transcript)
    assert analysis["duration"] == pytest.approx(4.5, abs=0.01)
    # Within a frame or two: the tone's edges spread a little when its sound is resampled.
    expected_pauses = [[0.0, 0.5], [1.5, 2.0], [2.4, 3.0], [4.0, 4.5]]
    assert analysis["pauses"] == [pytest.approx(pause, abs=0.021) for pause in expected_pauses]
    assert analysis["sounds"] == [pytest.approx([2.0, 2.4], abs=0.021)]
    assert json.loads(json.dumps(analysis)) == analysis


def test_analysis_of_a_silent_recording_is_one_pause(tmp_path):
    analysis = analyse(make_silent_video(tmp_path / "muted.mp4", seconds=2), {"segments": []})
    assert analysis["pauses"] == [[0.0, pytest.approx(analysis["duration"], abs=0.001)]]
    assert analysis["sounds"] == []


def test_analysis_refuses_a_recording_without_sound(tmp_path):
    with pytest.raises(MediaError):
        analyse(make_video(tmp_path / "mute.mp4", seconds=1, audio=False), {"segments": []})


# Speech with fillers and a retake planted at known times (tests/media.py: disfluent).
PLANTED = (
    "Good morning everyone, [um] thanks for joining the call.",
    "{The harbour project is} the harbour project is three weeks ahead.",
    "Could you check the second camera, [you know] the one by the door?",
    "Nobody expected the quiet violinist [uh] to win.",
)


def test_fillers_and_a_retake_planted_in_speech_are_suggested_where_they_were_said(tmp_path):
    if espeak_exe() is None:
        pytest.skip("espeak-ng is not installed, so there is no way to generate test speech")
    src = tmp_path / "disfluent.wav"
    planted = make_disfluent(src, PLANTED, voice="en-us", speed=165, seed=1)
    transcribe(src, tmp_path / "out", language="en")
    transcript = json.loads((tmp_path / "out" / "transcript.json").read_text())
    progress = []
    analysis = analyse(src, transcript, on_progress=lambda percent, stage: progress.append((percent, stage)))
    assert progress[-1][0] == 100 and LISTENING in {stage for _, stage in progress}
    found = words(transcript)
    result = suggestions(found, word_spans(found, analysis["duration"]), analysis, DEFAULT_PHRASES, 0.3)

    def suggested(kind: str, start: float, end: float) -> bool:
        return any(s["kind"] == kind and s["cut"][0] < end and start < s["cut"][1] for s in result)

    for filler in [p for p in planted if p["kind"] == "filler"]:
        assert suggested("filler", filler["start"], filler["end"]), (filler, result)
    [retake] = [p for p in planted if p["kind"] == "retake"]
    [found_retake] = of_kind(result, "retake")
    assert found_retake["cut"] == pytest.approx([retake["start"], retake["end"]], abs=0.3)
    fillers = of_kind(result, "filler")
    assert all(
        any(p["start"] - 0.2 < f["cut"][1] and f["cut"][0] < p["end"] + 0.2 for p in planted) for f in fillers
    )
