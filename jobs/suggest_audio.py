"""What the editor's suggestions need from the sound: the pauses, the hesitations and the voiced
stretches no word covers.

Run by the worker after transcription; jobs/suggest.py (pure Python, in the web process) turns the
result into suggestions. Whisper leaves most hesitations ("um", "uh") out of its text: it writes
them when the text before leads it to (FILLER_PROMPT), but that prompt makes the rest of the
transcript a little worse (bench/fillers.py), so the person's transcript is made without it and
this second listening only says where the hesitations are. A voice between two words that no
word covers is another filler the transcript does not show.
"""

import json
import tempfile
from pathlib import Path

import numpy as np

from jobs.edit import words as transcript_words
from jobs.errors import MediaError
from jobs.mediainfo import MediaInfo
from jobs.probe import probe
from jobs.progress import Progress, ignore, part
from jobs.silence import FLOOR_DB, FRAME_SECONDS, NO_AUDIO, choose_threshold, frame_levels, voiced
from jobs.suggest import WORD_SLACK, is_hesitation

# A pause worth suggesting: quiet at least this long (the editor shortens pauses to 0.3 s or more).
SHORTEST_PAUSE = 0.3
# A voiced stretch between words: at least SHORTEST_SOUND long (a shorter one is a click, a lip
# smack or the tail of a word), at most LONGEST_SOUND (a longer one is speech Whisper missed,
# not a hesitation). Word edges come within WORD_SLACK of their voice, so the sound that close
# to a word is that word's.
SHORTEST_SOUND = 0.15
LONGEST_SOUND = 2.0
# What Whisper reads before each window of the second listening: hesitations, written as people
# say them. Of the prompts tried (bench/fillers.py), it found the most and wrote no made-up ones.
FILLER_PROMPT = "So, um, uh, er, hmm, I was, uh, thinking, um, you know, that, er..."
ANALYSING = "Finding pauses and fillers"
LISTENING = "Listening for hesitations"
LEVELS_SHARE = 10.0  # of the progress bar: reading the loudness; the second listening takes the rest


def analyse(
    src: str | Path,
    transcript: dict,
    info: MediaInfo | None = None,
    on_progress: Progress = ignore,
    *,
    model: str | None = None,
    sound: Path | None = None,
) -> dict:
    """{"duration", "pauses": [[start, end], ...] (quiet of SHORTEST_PAUSE or more, whole),
    "hesitations": [[start, end], ...] (where a listening prompted for them hears hesitations),
    "sounds": [[start, end], ...] (voiced stretches no word of `transcript` covers)} for `src`.

    Hesitations are listened for only in English, with `model` (None: the packaged tiny.en).
    `info` is what `src` holds, if the caller knows it already; else `src` is probed; `sound` is
    its shared decoded sound file (jobs.sound), if it has one. Raises
    MediaError when `src` has no sound."""
    info = info or probe(src)
    if info.audio is None:
        raise MediaError(NO_AUDIO)
    duration = round(info.duration, 3)
    on_progress(0.0, ANALYSING)
    levels = frame_levels(
        src, info.duration, lambda fraction: on_progress(LEVELS_SHARE * fraction, ANALYSING), sound
    )
    frames = int(np.ceil(info.duration / FRAME_SECONDS))
    # Sound that ends before the picture leaves the rest silent.
    levels = np.concatenate([levels[:frames], np.full(max(0, frames - len(levels)), FLOOR_DB, np.float32)])
    try:
        threshold, _, _ = choose_threshold(levels, "auto")
        speaking = voiced(levels)
    except MediaError:  # silent throughout: one pause, nothing said
        return {"duration": duration, "pauses": [[0.0, duration]], "hesitations": [], "sounds": []}
    heard = []
    if transcript.get("language", "en") == "en":
        listening = part(on_progress, LEVELS_SHARE, 100.0)
        prompted = listen(src, info, model, lambda percent, _: listening(percent, LISTENING), sound)
        heard = hesitations(transcript_words(prompted), speaking)
    on_progress(100.0, ANALYSING)
    pauses = runs(levels < threshold, SHORTEST_PAUSE, float("inf"))
    return {
        "duration": duration,
        "pauses": [[start, min(end, duration)] for start, end in pauses],
        "hesitations": heard,
        "sounds": runs(
            speaking & ~covered(transcript_words(transcript), len(levels)), SHORTEST_SOUND, LONGEST_SOUND
        ),
    }


def listen(
    src: str | Path, info: MediaInfo, model: str | None, on_progress: Progress, sound: Path | None = None
) -> dict:
    """A transcript of `src` made with FILLER_PROMPT."""
    from jobs.transcribe import transcribe  # loads Whisper: only when listening

    with tempfile.TemporaryDirectory(prefix="listen-") as folder:
        transcribe(
            src,
            folder,
            model=model,
            language="en",
            prompt=FILLER_PROMPT,
            info=info,
            on_progress=on_progress,
            sound=sound,
        )
        return json.loads((Path(folder) / "transcript.json").read_text(encoding="utf-8"))


def hesitations(found: list[dict], sound: np.ndarray) -> list[list[float]]:
    """Where the words `found` hold a hesitation: the word's own time joined with the nearest
    voiced stretch between its neighbours that no other word covers (Whisper times hesitations
    poorly, often squeezed against the next word)."""
    others = [word for word in found if not is_hesitation(word["text"])]
    free = runs(sound & ~covered(others, len(sound)), SHORTEST_SOUND, LONGEST_SOUND)
    heard = []
    for index, word in enumerate(found):
        if not is_hesitation(word["text"]):
            continue
        low = found[index - 1]["end"] if index else 0.0
        high = found[index + 1]["start"] if index + 1 < len(found) else float("inf")
        beside = [run for run in free if low - WORD_SLACK < run[1] and run[0] < high + WORD_SLACK]
        start, end = word["start"], word["end"]
        if beside:
            run = min(beside, key=lambda run: max(run[0] - end, start - run[1], 0.0))
            start, end = min(start, run[0]), max(end, run[1])
        heard.append([round(start, 3), round(end, 3)])
    return heard


def covered(found: list[dict], frames: int) -> np.ndarray:
    """Which of `frames` frames the words `found` cover, each widened by WORD_SLACK."""
    mask = np.zeros(frames, bool)
    for word in found:
        first = max(0, int((word["start"] - WORD_SLACK) / FRAME_SECONDS))
        mask[first : int(np.ceil((word["end"] + WORD_SLACK) / FRAME_SECONDS))] = True
    return mask


def runs(mask: np.ndarray, shortest: float, longest: float) -> list[list[float]]:
    """The runs of True in `mask` lasting from `shortest` to `longest` seconds, as [start, end]."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    found = []
    for start, end in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True):
        if shortest <= (end - start) * FRAME_SECONDS <= longest:
            found.append([round(float(start * FRAME_SECONDS), 3), round(float(end * FRAME_SECONDS), 3)])
    return found
