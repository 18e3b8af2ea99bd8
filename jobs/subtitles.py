"""Subtitles from a word-timed transcript: SRT, WebVTT, plain text and JSON, and fitting them to a cut.

A transcript is the dict `jobs.transcribe.transcribe` writes as JSON:
{"language", "language_probability", "duration", "model",
 "segments": [{"start", "end", "text", "words": [{"start", "end", "word", "probability"}]}]}
with times in seconds. A word's text is as Whisper writes it: a leading space marks a word boundary,
so a segment's text is its words joined as they are.
"""

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from jobs.cutlist import CutList
from jobs.files import write_text_atomically

# Common subtitle guidelines (Netflix, BBC, EBU): at most two lines of about 42 characters,
# on screen for at most about 6 seconds and at least long enough to be noticed.
MAX_LINE_CHARS = 42
MAX_LINES = 2
MAX_CUE_SECONDS = 6.0
MIN_CUE_SECONDS = 0.8
# A silence this long between two words is a pause: the next word starts a new cue.
PAUSE_SECONDS = 0.6
# Where a cue that is full may be split earlier, at a comma, the first part keeps at least this
# share of the text, so that a cue is not left holding a lone word or two.
CLAUSE_SPLIT_MIN_SHARE = 0.4
# A pause this long in the plain text starts a new paragraph.
PARAGRAPH_PAUSE_SECONDS = 2.0

SENTENCE_END = re.compile(r"[.!?…]['\")\]]*$")
CLAUSE_END = re.compile(r"[,;:–—]['\")\]]*$")
FORMATS = ("srt", "vtt", "txt", "json")


@dataclass
class Cue:
    start: float
    end: float
    lines: list[str] = field(default_factory=list)


def write_outputs(transcript: dict, out_dir: str | Path, stem: str = "transcript") -> dict[str, str]:
    """Write `stem`.srt, .vtt, .txt and .json into `out_dir`; return {"srt": file name, …}.

    Each file is written under a temporary name and renamed into place, so a reader never
    sees half a file and a failed run leaves the previous files as they were.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cues = build_cues(transcript)
    contents = {
        "srt": to_srt(cues),
        "vtt": to_vtt(cues),
        "txt": to_text(transcript),
        "json": json.dumps(_rounded(transcript), ensure_ascii=False, indent=1) + "\n",
    }
    outputs = {}
    for kind in FORMATS:
        name = f"{stem}.{kind}"
        write_text_atomically(out_dir / name, contents[kind])
        outputs[kind] = name
    return outputs


def fit_to_cut(transcript: dict, cutlist: CutList) -> dict:
    """The transcript moved onto the timeline of the video that `cutlist` produces.

    Each word is mapped through the cut list; a word whose middle is removed is dropped (as the
    editor strikes it through), and one that straddles a cut keeps the part that is kept.
    Segments take their times and text from the words they still have; a segment left without
    words is dropped. A segment that never had word times is mapped as a whole. The input is not
    changed.
    """
    segments = []
    for segment in transcript.get("segments", []):
        words = segment.get("words") or []
        if not words:
            span = cutlist.map_span(segment["start"], segment["end"])
            if span is not None and segment.get("text", "").strip():
                segments.append({**segment, "start": span[0], "end": span[1], "words": []})
            continue
        kept = []
        for word in words:
            span = cutlist.map_span(word["start"], word["end"])
            if span is not None and cutlist.map_time((word["start"] + word["end"]) / 2) is not None:
                kept.append({**word, "start": span[0], "end": span[1]})
        if kept:
            text = join_words([w["word"] for w in kept])
            if text:
                segments.append(
                    {
                        **segment,
                        "start": kept[0]["start"],
                        "end": kept[-1]["end"],
                        "text": text,
                        "words": kept,
                    }
                )
    return {**transcript, "duration": cutlist.kept_duration, "segments": segments}


def join_words(words: list[str]) -> str:
    """The text of a run of words: as Whisper spaces them, or with single spaces if they carry none."""
    if any(word[:1].isspace() for word in words[1:]):
        text = "".join(words)
    else:
        text = " ".join(word.strip() for word in words)
    return " ".join(text.split())


def build_cues(transcript: dict) -> list[Cue]:
    """Subtitle cues from the transcript's words.

    A cue holds at most MAX_LINES lines of MAX_LINE_CHARS characters and lasts at most
    MAX_CUE_SECONDS. A new cue starts after a sentence ends, at a pause of PAUSE_SECONDS or more,
    and when the next word would not fit; a full cue is split after its last comma instead when
    that leaves a good share in the first part. Short cues are held on screen up to
    MIN_CUE_SECONDS when the next cue leaves room. Cues never overlap.
    """
    groups: list[list[dict]] = []
    current: list[dict] = []
    for word in _timed_words(transcript):
        if current and _starts_new_cue(current, word):
            groups.append(current)
            current = []
        if current and not _fits(current + [word]):
            head, current = _split_full(current)
            groups.append(head)
            if current and not _fits(current + [word]):
                groups.append(current)
                current = []
        current.append(word)
    if current:
        groups.append(current)

    cues = []
    for group in groups:
        start, end = group[0]["start"], max(w["end"] for w in group)
        if cues and start < cues[-1].end:
            start = cues[-1].end
        # Only a single word can outlast MAX_CUE_SECONDS: Whisper sometimes stretches one into a pause.
        end = min(max(end, start + 0.001), start + MAX_CUE_SECONDS)
        cues.append(Cue(start, end, break_lines(join_words([w["word"] for w in group]))))
    media_end = transcript.get("duration") or float("inf")
    for i, cue in enumerate(cues):
        if cue.end - cue.start < MIN_CUE_SECONDS:
            limit = cues[i + 1].start if i + 1 < len(cues) else media_end
            cue.end = max(cue.end, min(cue.start + MIN_CUE_SECONDS, limit))
    return cues


def break_lines(text: str) -> list[str]:
    """`text` on one line if it fits, else on two lines as even as possible, after punctuation if that helps.

    A text that cannot fit on MAX_LINES lines (only a cue made of one very long word) is kept whole.
    """
    if len(text) <= MAX_LINE_CHARS:
        return [text]
    words = text.split(" ")
    best, best_score = None, None
    for i in range(1, len(words)):
        first, second = " ".join(words[:i]), " ".join(words[i:])
        if len(first) > MAX_LINE_CHARS or len(second) > MAX_LINE_CHARS:
            continue
        # Even lines read best; a break after a comma or full stop is worth a few characters.
        score = abs(len(first) - len(second)) - (
            8 if CLAUSE_END.search(first) or SENTENCE_END.search(first) else 0
        )
        if best_score is None or score < best_score:
            best, best_score = [first, second], score
    return best or [text]


def to_srt(cues: list[Cue]) -> str:
    blocks = [
        f"{n}\n{_timestamp(c.start, ',')} --> {_timestamp(c.end, ',')}\n" + "\n".join(c.lines)
        for n, c in enumerate(cues, 1)
    ]
    return "\n\n".join(blocks) + "\n" if blocks else ""


def to_vtt(cues: list[Cue]) -> str:
    blocks = [
        f"{_timestamp(c.start, '.')} --> {_timestamp(c.end, '.')}\n"
        + "\n".join(_vtt_escape(line) for line in c.lines)
        for c in cues
    ]
    return "WEBVTT\n\n" + "".join(block + "\n\n" for block in blocks)


def to_text(transcript: dict) -> str:
    """The words as running text, a paragraph per stretch of speech between long pauses."""
    paragraphs: list[list[str]] = []
    previous_end = None
    for segment in transcript.get("segments", []):
        text = " ".join(segment.get("text", "").split())
        if not text:
            continue
        if previous_end is None or segment["start"] - previous_end >= PARAGRAPH_PAUSE_SECONDS:
            paragraphs.append([])
        paragraphs[-1].append(text)
        previous_end = segment["end"]
    return "".join(" ".join(p) + "\n\n" for p in paragraphs).rstrip("\n") + "\n" if paragraphs else ""


def _timed_words(transcript: dict) -> list[dict]:
    """Every word with its times, in order; a segment without word times gets them shared out by length."""
    words = []
    for segment in transcript.get("segments", []):
        segment_words = [w for w in segment.get("words") or [] if w["word"].strip()]
        if not segment_words:
            segment_words = _spread(segment)
        for w in segment_words:
            start = w["start"] if not words else max(w["start"], words[-1]["start"])
            words.append({"word": w["word"], "start": start, "end": max(w["end"], start)})
    return words


def _spread(segment: dict) -> list[dict]:
    pieces = segment.get("text", "").split()
    total = sum(len(p) for p in pieces)
    words, at, span = [], segment["start"], segment["end"] - segment["start"]
    for piece in pieces:
        length = span * len(piece) / total
        words.append({"word": " " + piece, "start": at, "end": at + length})
        at += length
    return words


def _starts_new_cue(current: list[dict], word: dict) -> bool:
    last = current[-1]
    return bool(SENTENCE_END.search(last["word"].strip())) or word["start"] - last["end"] >= PAUSE_SECONDS


def _fits(words: list[dict]) -> bool:
    if words[-1]["end"] - words[0]["start"] > MAX_CUE_SECONDS:
        return False
    lines = break_lines(join_words([w["word"] for w in words]))
    return len(lines) <= MAX_LINES and all(len(line) <= MAX_LINE_CHARS for line in lines)


def _split_full(words: list[dict]) -> tuple[list[dict], list[dict]]:
    """A full cue's words as (this cue, start of the next), split after a comma when that reads better."""
    total = len(join_words([w["word"] for w in words]))
    for i in range(len(words) - 1, 0, -1):
        head = words[:i]
        if CLAUSE_END.search(head[-1]["word"].strip()):
            if len(join_words([w["word"] for w in head])) >= CLAUSE_SPLIT_MIN_SHARE * total:
                return head, words[i:]
            break
    return words, []


def _timestamp(seconds: float, separator: str) -> str:
    ms = max(0, round(seconds * 1000))
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{ms:03d}"


def _vtt_escape(line: str) -> str:
    # WebVTT cue text treats & and < as markup, and "-->" would end the cue timing line.
    return line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _rounded(transcript: dict) -> dict:
    """The transcript with times to the millisecond, which is all the audio can tell."""
    segments = [
        {
            **segment,
            "start": round(segment["start"], 3),
            "end": round(segment["end"], 3),
            "words": [
                {
                    **w,
                    "start": round(w["start"], 3),
                    "end": round(w["end"], 3),
                    **({"probability": round(w["probability"], 4)} if "probability" in w else {}),
                }
                for w in segment.get("words") or []
            ],
        }
        for segment in transcript.get("segments", [])
    ]
    rounded = {**transcript, "segments": segments}
    if isinstance(transcript.get("duration"), float):
        rounded["duration"] = round(transcript["duration"], 3)
    return rounded
