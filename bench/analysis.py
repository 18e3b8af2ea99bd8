"""Bench the jobs that read a recording's sound (waveform, silence detection, sync's offset) on one
camera recording: each decoding it itself, against one decode shared through a sound file.

    python bench/analysis.py [--minutes 60]

The input is bench/sync.py's cached pair (a spoken scene: camera AAC 48 kHz, recorder WAV 44.1 kHz,
+50 ppm). Each step runs as a subprocess of its own (wall and CPU seconds, peak memory from
os.wait4), in the order the pipeline runs them: preparation's waveform, silence detection, sync's
find_offset. "each decodes" gives no sound file (as before jobs/sound.py); "decoded once" gives
all three the same one, which the first step writes and the others read. Realtime = seconds of
media per second of wall time.
"""

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

# First: it puts the repository on sys.path, for `jobs` and `tests`.
from common import OUR_PYTHON, measure, print_table

STEPS = {
    "waveform": (
        "from jobs.prepare import draw_waveform; from jobs.probe import probe; "
        "draw_waveform(CAMERA, OUT / 'waveform.png', probe(CAMERA).duration, sound=SOUND)"
    ),
    "silence detection": "from jobs.silence import detect_silence; detect_silence(CAMERA, sound=SOUND)",
    "sync find_offset": (
        "from jobs.sync import find_offset; find_offset(CAMERA, RECORDER, primary_sound=SOUND)"
    ),
}


def step(code: str, camera: Path, recorder: Path, sound: Path | None, out: Path) -> dict:
    setup = (
        "from pathlib import Path; "
        f"CAMERA, RECORDER, OUT = Path({str(camera)!r}), Path({str(recorder)!r}), Path({str(out)!r}); "
        f"SOUND = {f'Path({str(sound)!r})' if sound else None}; "
    )
    run = measure([OUR_PYTHON, "-c", setup + code])
    if run["status"]:
        raise SystemExit(f"{code} failed:\n{run['stderr'][-2000:]}")
    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    args = parser.parse_args()
    here = Path(__file__).resolve().parent
    subprocess.run(
        [sys.executable, here / "sync.py", "--minutes", f"{args.minutes:g}", "--generate"], check=True
    )
    from sync import make_pair

    camera, recorder = make_pair(args.minutes)
    seconds = args.minutes * 60
    out = Path(tempfile.mkdtemp(prefix="cutroom-bench-analysis-"))
    sound = out / ".sound-camera.f32"
    results = {}
    for way, shared in (("each decodes", None), ("decoded once", sound)):
        for name, code in STEPS.items():
            print(f"{way}: {name} …", flush=True)
            results[way, name] = step(code, camera, recorder, shared, out)
    sound.unlink(missing_ok=True)

    rows = []
    for way in ("each decodes", "decoded once"):
        total = {"seconds": 0.0, "cpu_seconds": 0.0, "rss_mb": 0.0}
        for name in STEPS:
            run = results[way, name]
            before = results["each decodes", name]
            rows.append(_row(way, name, run, seconds, before))
            total = {
                "seconds": total["seconds"] + run["seconds"],
                "cpu_seconds": total["cpu_seconds"] + run["cpu_seconds"],
                "rss_mb": max(total["rss_mb"], run["rss_mb"]),
            }
        results[way, "all three"] = total
        rows.append(_row(way, "all three", total, seconds, results.get(("each decodes", "all three"), total)))
    print()
    load = os.getloadavg()[0]
    print(f"{camera.name} + {recorder.name}: {args.minutes:g} min; {os.cpu_count()} cores, load {load:.2f}")
    print_table(
        ["way", "step", "wall s", "CPU s", "CPU use", "peak MB", "× realtime", "× each decodes"],
        rows,
        [13, 18, 7, 7, 7, 8, 10, 14],
        left=2,
        rule=True,
    )
    return 0


def _row(way: str, name: str, run: dict, seconds: float, before: dict) -> list:
    cores = os.cpu_count() or 1
    return [
        way,
        name,
        f"{run['seconds']:.2f}",
        f"{run['cpu_seconds']:.2f}",
        f"{run['cpu_seconds'] / (run['seconds'] * cores):.0%}",
        f"{run['rss_mb']:.0f}",
        f"{seconds / run['seconds']:.0f}×",
        f"{before['seconds'] / run['seconds']:.2f}×",
    ]


if __name__ == "__main__":
    sys.exit(main())
