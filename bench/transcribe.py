"""Benchmark: Cutroom's transcription job against bare faster-whisper on the same espeak-ng speech.

    python bench/transcribe.py [--minutes 5] [--runs 3] [--model PATH]

Both run as fresh processes on the same file with the same model (CPU, int8, word timestamps),
so the ratio of the job without its voice filter (`--no-vad`) is what the job adds: probing,
fitting word edges to the sound, the progress reports and writing four files. The job as it
runs by default (voice filter on) is the third row. Wall
time, CPU time and peak RSS (os.wait4) are the best of the interleaved runs. The speech is
generated once and kept in bench/.cache/ (which ignores itself in git).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

# First: it puts the repository on sys.path, for `jobs` and `tests`.
from common import ROOT, cached, measure, print_table

from jobs.ffmpeg import ffmpeg_exe
from jobs.transcribe import default_model_path
from tests import media

PYTHON = sys.executable
# The test suites' sentences and two more, in the order the cached speech was made with.
SENTENCES = (
    *media.SENTENCES,
    "The quick brown fox jumps over the lazy dog.",
    "We recorded the second take outside, because the light in the studio was too flat.",
)
# espeak-ng speaks about 150 words a minute at this speed; the breaks vary so pauses differ.
SPEED = 150
# Only used when there is no `python -m jobs` command line.
CALL = """
import sys
from jobs.transcribe import transcribe

transcribe(sys.argv[1], sys.argv[2], model=sys.argv[3] or None)
"""
BARE = """
import sys
from faster_whisper import WhisperModel

model = WhisperModel(sys.argv[2], device="cpu", compute_type="int8")
segments, info = model.transcribe(sys.argv[1], word_timestamps=True)
print(sum(len(segment.words) for segment in segments))
"""


def speech(minutes: float) -> Path:
    """A WAV of about `minutes` of speech with pauses, made with espeak-ng once and cached."""
    [path] = cached(lambda part: make_speech(part, minutes), f"transcribe-speech-{minutes:g}min.wav")
    return path


def make_speech(path: Path, minutes: float) -> None:
    espeak = media.espeak_exe()
    if espeak is None:
        sys.exit("espeak-ng is not installed: it makes the speech this benchmark transcribes")
    words = int(minutes * SPEED * 1.1)
    parts, count, n = [], 0, 0
    while count < words:
        sentence = SENTENCES[n % len(SENTENCES)]
        parts.append(f"{sentence} <break time='{400 + 300 * (n % 5)}ms'/>")
        count += len(sentence.split())
        n += 1
    with tempfile.TemporaryDirectory(dir=path.parent) as folder:
        raw = Path(folder) / "raw.wav"
        subprocess.run(
            [espeak, "-m", "-s", str(SPEED), "-w", str(raw), "<speak>" + " ".join(parts) + "</speak>"],
            check=True,
        )
        # Exactly the asked length, so every run transcribes the same amount.
        subprocess.run(
            [ffmpeg_exe(), "-v", "error", "-y", "-i", str(raw), "-t", str(minutes * 60), str(path)],
            check=True,
        )


def run(command: list[str]) -> tuple[float, float, float, str]:
    """Run `command`; return wall seconds, CPU seconds, peak RSS in MiB and what it printed."""
    result = measure(command, env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)})
    if result["status"] != 0:
        sys.exit(f"failed ({result['status']}): {' '.join(command)}\n{result['stdout']}")
    return result["seconds"], result["cpu_seconds"], result["rss_mb"], result["stdout"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="length of the speech (5)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each, interleaved (3)")
    parser.add_argument("--model", help="model folder (default: the packaged tiny.en)")
    args = parser.parse_args()

    model = args.model or default_model_path()
    src = speech(args.minutes)
    print(f"input: {src.relative_to(ROOT)} ({args.minutes:g} min), model: {model}")
    print(f"runs: {args.runs} of each, {os.cpu_count()} CPUs, load average before: {os.getloadavg()[0]:.1f}")

    results = {"bare faster-whisper": [], "cutroom job --no-vad": [], "cutroom job (default)": []}
    with tempfile.TemporaryDirectory() as out_dir:
        job = [PYTHON, "-m", "jobs", "transcribe", str(src), "--out-dir", out_dir]
        if args.model:
            job += ["--model", args.model]
        if not (ROOT / "jobs" / "__main__.py").exists():
            job = [PYTHON, "-c", CALL, str(src), out_dir, args.model or ""]
        for _ in range(args.runs):  # interleaved, so a busy spell of the machine hits both
            *figures, printed = run([PYTHON, "-c", BARE, str(src), model])
            results["bare faster-whisper"].append((*figures, int(printed.split()[-1])))
            for name, flags in (("cutroom job --no-vad", ["--no-vad"]), ("cutroom job (default)", [])):
                *figures, _ = run(job + flags)
                transcript = json.loads((Path(out_dir) / "transcript.json").read_text())
                results[name].append((*figures, sum(len(s["words"]) for s in transcript["segments"])))
    print(f"load average after: {os.getloadavg()[0]:.1f}")

    # Best of the runs: on a shared machine the slow runs measure the neighbours, not the code.
    best = {name: [min(r[i] for r in runs) for i in range(3)] for name, runs in results.items()}
    base_wall, base_cpu, base_rss = best["bare faster-whisper"]
    header = ("run", "wall s", "x real time", "CPU s", "peak RSS MiB", "words", "wall ratio", "CPU ratio")
    rows = []
    for name, (wall, cpu, rss) in best.items():
        speed, words = args.minutes * 60 / wall, results[name][-1][3]
        cells = (f"{wall:.2f}", f"{speed:.1f}", f"{cpu:.2f}", f"{rss:.0f}", words)
        rows.append((name, *cells, f"{wall / base_wall:.3f}", f"{cpu / base_cpu:.3f}"))
    print()
    print_table(header, rows, (23, 8, 13, 8, 14, 7, 12, 11), gap="")
    wall, cpu, _ = best["cutroom job --no-vad"]
    print(
        f"\njob overhead over bare faster-whisper: {wall / base_wall - 1:+.1%} wall time, "
        f"{cpu / base_cpu - 1:+.1%} CPU time (target: under 10 %)"
    )


if __name__ == "__main__":
    main()
