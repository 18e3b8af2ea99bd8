"""jobs/edit.py: kept ranges and the editor's operations on them, words to spans and back, pauses
shortened, frame snapping, and the subtitles of an edit."""

import pytest

from jobs import edit
from jobs.cutlist import CutList
from jobs.subtitles import fit_to_cut, to_text

WORDS = [
    {"word": " So", "start": 0.40, "end": 0.60},
    {"word": " the", "start": 0.62, "end": 0.70},
    {"word": " harbour", "start": 0.75, "end": 1.20},
    {"word": " project", "start": 1.25, "end": 1.70},
    {"word": " is", "start": 3.10, "end": 3.25},  # after a 1.4 s pause
    {"word": " late.", "start": 3.30, "end": 3.80},
]
TRANSCRIPT = {"segments": [{"start": 0.4, "end": 3.8, "text": "", "words": WORDS}]}
DURATION = 5.0


def spans():
    return edit.word_spans(edit.words(TRANSCRIPT), DURATION)


def kept_words(keep) -> list[str]:
    """The words whose middle an edit keeps, as the editor strikes the others through."""
    found = edit.words(TRANSCRIPT)
    return [w["text"] for w in found if edit.is_kept(keep, (w["start"] + w["end"]) / 2)]


def test_cutting_words_removes_them_and_keeping_them_again_restores_the_edit():
    whole = [(0.0, DURATION)]
    cut = edit.cut(whole, [spans()[2], spans()[3]])  # "harbour project"
    assert kept_words(cut) == ["So", "the", "is", "late."]
    assert edit.restore(cut, [spans()[2], spans()[3]], DURATION) == whole
    # One word back of the two: only that one.
    assert kept_words(edit.restore(cut, [spans()[2]], DURATION)) == ["So", "the", "harbour", "is", "late."]


def test_a_words_span_takes_half_the_gap_each_side_at_most_the_pad_and_never_a_neighbour():
    found = edit.words(TRANSCRIPT)
    for index, (start, end) in enumerate(spans()):
        word = found[index]
        assert start <= word["start"] and end >= word["end"]
        if index:
            assert start >= found[index - 1]["end"]
        if index + 1 < len(found):
            assert end <= found[index + 1]["start"]
        assert word["start"] - start <= edit.PAD + 1e-9 and end - word["end"] <= edit.PAD + 1e-9
    # Touching words: the span ends where the next one starts.
    assert spans()[0] == (pytest.approx(0.28), pytest.approx(0.61))
    # Cutting one word before a long pause takes PAD of it, not half of the pause.
    assert spans()[3][1] == pytest.approx(1.70 + edit.PAD)


def test_a_pause_shortened_keeps_the_chosen_length_half_at_each_side():
    cut = edit.shorten((1.7, 3.1), 0.3)
    assert cut == (pytest.approx(1.85), pytest.approx(2.95))
    keep = edit.cut([(0.0, DURATION)], [cut])
    assert edit.kept_length(keep) == pytest.approx(DURATION - 1.1)
    assert edit.shorten((1.0, 1.2), 0.3) is None  # already shorter than asked


def test_ranges_are_merged_clipped_and_put_on_whole_frames():
    frame = 1 / 25
    keep = edit.normalize([[2.51, 4.0], [0.013, 1.0], [0.9, 1.5], [4.0, 9.0]], DURATION, frame)
    assert keep == [(0.0, 1.52), (2.52, 5.0)]
    assert all(round(b / frame, 6).is_integer() for range_ in keep for b in range_)
    assert edit.removed(keep, DURATION) == [(1.52, 2.52)]
    # The end of a recording off the frame grid stays the end: no sliver of it is removed.
    assert edit.normalize([[0.0, 4.99]], 4.995, frame) == [(0.0, 4.995)]
    # A range shorter than half a frame vanishes instead of becoming a zero-length clip.
    assert edit.normalize([[0, 1], [2.001, 2.015]], DURATION, frame) == [(0.0, 1.0)]


@pytest.mark.parametrize(
    "keep",
    [None, "0-1", [[1]], [[1, 0]], [[0, float("nan")]], [[0, True]], [[6, 7]], [], [[0, 1]] * 100_001],
)
def test_what_is_no_edit_is_refused_with_a_reason(keep):
    with pytest.raises(edit.EditError):
        edit.normalize(keep, DURATION)


def test_the_subtitles_of_an_edit_hold_only_the_kept_words_at_their_new_times():
    keep = edit.cut([(0.0, DURATION)], [spans()[2], spans()[3], edit.shorten((1.7, 3.1), 0.3)])
    fitted = fit_to_cut(TRANSCRIPT, CutList(DURATION, keep))
    words = [w for s in fitted["segments"] for w in s["words"]]
    assert [w["word"].strip() for w in words] == ["So", "the", "is", "late."]
    assert to_text(fitted).strip() == "So the is late."
    # "is" follows "the" after what is left of the gap: the shortened pause and the cut words are gone.
    gap = words[2]["start"] - words[1]["end"]
    assert gap == pytest.approx((3.10 - 0.70) - (spans()[3][1] - spans()[2][0]) - (2.95 - 1.85), abs=0.01)
