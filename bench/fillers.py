"""Benchmark: how well the editor's suggestions find fillers and retakes planted in generated speech.

    python bench/fillers.py [--conditions N] [--no-real]

Each condition speaks SCRIPT with espeak-ng in one voice and pace, piece by piece, so every filler
("um", "uh", "er", "hmm", "you know") and every abandoned first take is at a known time
(tests/media.py: disfluent). Each file then runs through what the editor runs: transcription
(tiny.en, no prompt), the sound analysis (with its second listening, prompted for hesitations),
and the suggestions with the default phrases; and, to show what each part brings, the
suggestions from the transcript and the unwritten sounds alone, without the second listening.
A filler suggestion is right when its cut overlaps a planted filler (within TOLERANCE), and a
planted filler is found by such a suggestion or by a retake cut holding it (the editor shows a
hesitation between two takes as part of the retake); a planted retake is found when a retake
suggestion cuts from its first take to within 2 x TOLERANCE of where it is said again. Then, on
the same script said without fillers and retakes, the word error rate of a transcript with and
without the prompt: why the person's transcript is made without it. On
the real interview tests/media/timbl_1.mp3 (no ground truth) it prints the text and the
suggestions, to read. Generated speech is kept in bench/.cache/.
"""

import argparse
import json
import re
import tempfile
from pathlib import Path

# First: it puts the repository on sys.path, for `jobs` and `tests`.
from common import ROOT, cached, print_table, wer

from jobs.edit import word_spans, words
from jobs.suggest import DEFAULT_PHRASES, suggestions
from jobs.suggest_audio import FILLER_PROMPT, analyse
from jobs.transcribe import transcribe
from tests import media

# "[um]" a filler, "{...}" a first take said again after it (tests/media.py: disfluent).
SCRIPT = (
    "Good morning everyone, [um] thanks for joining the call.",
    "So the meeting starts at nine, [uh] and please bring the quarterly figures.",
    "{The harbour project is} the harbour project is three weeks ahead of schedule.",
    "Yesterday the river [er] rose above the old stone bridge.",
    "I think [hmm] the battery lasts about four hours when the screen is dimmed.",
    "Could you check the second camera, [you know] the one by the kitchen door?",
    "[Um] after lunch we will walk through the new schedule.",
    "Nobody expected the quiet violinist [uh] to win the competition.",
    "{We moved the budget} we moved the budget review to Thursday afternoon.",
    "Turn left at the bakery, [er] then follow the tram line to the park.",
    "The new office has [um] more light than the old one.",
    "Seven orange boxes were stacked [hmm] beside the kitchen door.",
    "She said the report was finished, [you know] but nobody has read it yet.",
    "{The first draft} [uh] the first draft needs another week of work.",
    "We recorded the second take outside, [um] because the studio light was flat.",
    "Please send me the slides [er] before the end of the day.",
    "The train was late again, [uh] so I missed the opening talk.",
    "{If we start} if we start early we can finish by noon.",
    "My sister painted the fence [hmm] a bright shade of green.",
    "The printer on the second floor is broken, [you know] the big one.",
)
# Voices and paces: espeak-ng's American and British English, with its female and male variants.
CONDITIONS = (
    ("en-us", 165),
    ("en-gb", 150),
    ("en-us+f3", 180),
    ("en-gb+m3", 140),
    ("en-us+m3", 190),
    ("en-gb+f3", 165),
)
TOLERANCE = 0.2  # seconds: how far a suggestion may miss the planted filler or retake
REAL = ROOT / "tests" / "media" / "timbl_1.mp3"
SHOWN = 12  # suggestions on the real recording printed to be read


def speech(voice: str, speed: int, seed: int, clean: bool = False) -> tuple[Path, list[dict]]:
    """The script spoken in `voice` at `speed` (with `clean`, without fillers and retakes), cached
    with what was planted in it."""
    name = f"fillers-{voice}-{speed}-{seed}{'-clean' if clean else ''}"
    sentences = [plain(sentence) for sentence in SCRIPT] if clean else SCRIPT

    def make(wav: Path, truth: Path) -> None:
        truth.write_text(
            json.dumps(media.make_disfluent(wav, sentences, voice=voice, speed=speed, seed=seed))
        )

    wav, truth = cached(make, f"{name}.wav", f"{name}.json")
    return wav, json.loads(truth.read_text())


def plain(sentence: str) -> str:
    """`sentence` as said fluently: fillers and first takes left out."""
    return re.sub(r"\s+", " ", media.DISFLUENCY.sub("", sentence)).strip()


def suggest(src: Path, folder: Path) -> tuple[dict, dict, list[dict]]:
    """The transcript of `src`, its analysis and the editor's suggestions for it."""
    transcribe(src, folder, language="en")
    transcript = json.loads((folder / "transcript.json").read_text())
    analysis = analyse(src, transcript)
    return transcript, analysis, suggested(transcript, analysis)


def suggested(transcript: dict, analysis: dict) -> list[dict]:
    found = words(transcript)
    return suggestions(found, word_spans(found, analysis["duration"]), analysis, DEFAULT_PHRASES, 0.3)


def transcript_text(src: Path, folder: Path, prompt: str | None) -> str:
    transcribe(src, folder, language="en", prompt=prompt)
    return (folder / "transcript.txt").read_text().replace("\n", " ")


def near(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] < b[1] + TOLERANCE and b[0] < a[1] + TOLERANCE


def score(found: list[dict], planted: list[dict]) -> dict:
    """Filler recall and precision, retakes found, and how the fillers were found (word, sound)."""
    fillers = [s for s in found if s["kind"] == "filler"]
    truth = [p for p in planted if p["kind"] == "filler"]
    right = [s for s in fillers if any(near(s["cut"], (p["start"], p["end"])) for p in truth)]
    # A filler between two takes is cut with the retake, which the editor shows instead.
    retakes = [s for s in found if s["kind"] == "retake"]
    hit = [
        p
        for p in truth
        if any(near(s["cut"], (p["start"], p["end"])) for s in fillers)
        or any(s["cut"][0] <= p["start"] and p["end"] <= s["cut"][1] + TOLERANCE for s in retakes)
    ]
    by_word = [p for p in truth if any(near(s["cut"], (p["start"], p["end"])) for s in fillers if s["words"])]
    takes = [p for p in planted if p["kind"] == "retake"]
    took = [
        p
        for p in takes
        if any(
            abs(s["cut"][0] - p["start"]) <= TOLERANCE * 2 and abs(s["cut"][1] - p["end"]) <= TOLERANCE * 2
            for s in retakes
        )
    ]
    return {
        "fillers": len(truth),
        "suggested": len(fillers),
        "recall": len(hit) / len(truth),
        "precision": len(right) / len(fillers) if fillers else 1.0,
        "written": len(by_word),
        "retakes": f"{len(took)}/{len(takes)}",
        "false retakes": len(retakes) - len(took),
        "wrong": [s for s in fillers if s not in right],
        "missed": [p for p in truth if p not in hit],
    }


def text(transcript: dict) -> str:
    return " ".join(segment["text"] for segment in transcript["segments"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conditions", type=int, default=len(CONDITIONS), help="how many voices to run")
    parser.add_argument("--no-real", action="store_true", help=f"skip {REAL.name}")
    args = parser.parse_args()
    if media.espeak_exe() is None:
        raise SystemExit("espeak-ng is not installed: it makes the speech this benchmark listens to")

    ways = ("suggestions", "without 2nd listening")
    rows, totals, errors = [], {way: [0.0, 0, 0.0, 0] for way in ways}, []
    reference = " ".join(plain(sentence) for sentence in SCRIPT)
    with tempfile.TemporaryDirectory() as scratch:
        for seed, (voice, speed) in enumerate(CONDITIONS[: args.conditions], start=1):
            src, planted = speech(voice, speed, seed)
            folder = Path(scratch) / f"{voice}-{speed}"
            transcript, analysis, found = suggest(src, folder)
            alone = suggested(transcript, {**analysis, "hesitations": []})
            clean, _ = speech(voice, speed, seed, clean=True)
            rates = [
                wer(reference, transcript_text(clean, folder / "clean", p)) for p in (None, FILLER_PROMPT)
            ]
            for way, result in zip(ways, (found, alone), strict=True):
                figures = score(result, planted)
                rows.append(
                    (
                        f"{voice} -s {speed}" if way == ways[0] else "",
                        way,
                        f"{figures['recall']:.2f}",
                        f"{figures['precision']:.2f}",
                        f"{figures['written']}/{figures['fillers']}",
                        figures["suggested"],
                        figures["retakes"],
                        figures["false retakes"],
                        *([f"{rates[0]:.3f}", f"{rates[1]:.3f}"] if way == ways[0] else ["", ""]),
                    )
                )
                total = totals[way]
                total[0] += figures["fillers"] * figures["recall"]
                total[1] += figures["fillers"]
                total[2] += figures["suggested"] * figures["precision"]
                total[3] += figures["suggested"]
                if way == ways[0]:
                    errors += [(voice, speed, "wrong", s["text"], s["start"]) for s in figures["wrong"]]
                    errors += [(voice, speed, "missed", p["text"], p["start"]) for p in figures["missed"]]
    header = (
        "voice",
        "fillers from",
        "recall",
        "precision",
        "written",
        "suggested",
        "retakes",
        "false retakes",
    )
    print_table((*header, "WER clean", "prompted"), rows, (18, 23, 8, 11, 9, 11, 9, 15, 11, 10), gap="")
    for way, (hit, planted, right, suggested_count) in totals.items():
        print(
            f"all voices, {way}: recall {hit / planted:.2f}, precision {right / max(suggested_count, 1):.2f}"
        )
    for voice, speed, what, said, at in errors:
        print(f"  {what:6} {voice} -s {speed} at {at:6.2f} s: {said}")
    if not args.no_real:
        real()


def real() -> None:
    """The real interview: its text and the suggestions, to read."""
    with tempfile.TemporaryDirectory() as scratch:
        transcript, analysis, found = suggest(REAL, Path(scratch))
    print(f"\n{REAL.name}:", text(transcript))
    kinds = {kind: sum(s["kind"] == kind for s in found) for kind in ("filler", "retake", "pause")}
    print("suggestions:", ", ".join(f"{count} {kind}s" for kind, count in kinds.items()))
    for s in [s for s in found if s["kind"] != "pause"][:SHOWN]:
        print(f"  {s['kind']:7} {s['start']:6.2f}–{s['end']:6.2f} s  cut {s['cut']}  {s['text']}")


if __name__ == "__main__":
    main()
