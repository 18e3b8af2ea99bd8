"""Benchmark audio sync against audio-offset-finder and syncstart on a long camera/recorder pair.

    python bench/sync.py [--minutes 60]

Generates (once, cached in bench/.cache/) a spoken scene from espeak-ng sentences, then a camera
track (AAC in M4A, 48 kHz, noisy) and a recorder track (WAV, 44.1 kHz, different EQ) that started
RECORDER_LEAD seconds earlier and whose clock runs DRIFT_PPM fast. Each tool runs as a subprocess
on the same pair; the table shows wall time, peak memory, realtime factor and offset error against
the truth, with ratios against Cutroom. The peers are installed into bench/.venv from PyPI.
"""

import argparse
import ast
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# First: it puts the repository on sys.path, for `jobs` and `tests`.
from common import OUR_PYTHON, cached, measure, peer_venv, print_table

from tests.media import derive_track, speech_scene, write_track

PEERS = ("audio-offset-finder==0.5.5", "syncstart==1.1.1")
CAMERA_START = 20.0  # scene time at which the camera starts
RECORDER_LEAD = 12.345  # the recorder started this much earlier
DRIFT_PPM = 50.0
HEADERS = (
    "tool",
    "wall s",
    "x ours",
    "peak MB",
    "x ours",
    "realtime",
    "offset ms",
    "error ms",
    "drift ppm",
    "score",
)
WIDTHS = (22, 8, 7, 8, 7, 9, 11, 10, 10, 7)
FIND_OFFSET = (
    "import json, sys; from jobs.sync import find_offset; r = find_offset(sys.argv[1], sys.argv[2]); "
    "print(json.dumps({k: r[k] for k in ('offset_seconds', 'confidence', 'drift_ppm')}))"
)


def make_pair(minutes: float) -> tuple[Path, Path]:
    """The cached camera/recorder pair for `minutes` of recording."""
    folder = f"sync-{minutes:g}min"
    camera, recorder = cached(
        lambda *parts: generate_pair(minutes, *parts), f"{folder}/camera.m4a", f"{folder}/recorder.wav"
    )
    return camera, recorder


def generate_pair(minutes: float, camera: Path, recorder: Path) -> None:
    seconds = minutes * 60
    print(f"generating a {minutes:g}-minute scene with espeak-ng (cached in {camera.parent})...", flush=True)
    scene = speech_scene(CAMERA_START + seconds + 30, seed=11)
    cam = derive_track(scene, CAMERA_START, seconds, snr_db=15, seed=12)
    write_track(camera, cam)
    del cam
    rec = derive_track(
        scene,
        CAMERA_START - RECORDER_LEAD,
        seconds + RECORDER_LEAD + 5,
        gain_db=-6,
        lowpass=5000,
        drift_ppm=DRIFT_PPM,
        sample_rate=44100,
        snr_db=30,
        seed=13,
    )
    write_track(recorder, rec, 44100)


def parse_ours(run: dict, json_path: Path | None = None) -> dict:
    data = (
        json.loads(json_path.read_text()) if json_path else json.loads(run["stdout"].strip().splitlines()[-1])
    )
    return {"offset": data["offset_seconds"], "score": data["confidence"], "drift": data["drift_ppm"]}


def parse_aof(run: dict) -> dict:
    data = json.loads(run["stdout"][run["stdout"].index("{") :])
    return {"offset": float(data["time_offset"]), "score": float(data["standard_score"]), "drift": None}


def parse_syncstart(run: dict, external: Path) -> dict:
    # It ends with sys.exit(('file_to_advance', seconds)): the tuple goes to stderr, exit status 1.
    # Advancing (cutting) the recorder means the recorder started first.
    name, seconds = ast.literal_eval(run["stderr"].strip().splitlines()[-1])
    return {"offset": -seconds if Path(name).name == external.name else seconds, "score": None, "drift": None}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--generate", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        make_pair(args.minutes)
        return 0
    # Generated in a child process: a child forked from this one, had it grown to hold the scene,
    # would report that memory as its own peak.
    subprocess.run([sys.executable, __file__, "--minutes", f"{args.minutes:g}", "--generate"], check=True)
    camera, recorder = make_pair(args.minutes)
    peers = peer_venv(PEERS)
    duration = args.minutes * 60
    truth = -RECORDER_LEAD
    out_dir = Path(tempfile.mkdtemp(prefix="cutroom-bench-sync-"))
    result_json = out_dir / "result.json"
    tools = {
        "cutroom find_offset": (
            [str(OUR_PYTHON), "-c", FIND_OFFSET, str(camera), str(recorder)],
            parse_ours,
        ),
        "cutroom sync (+swap)": (
            [str(OUR_PYTHON), "-m", "jobs", "sync", str(camera), str(recorder), str(out_dir / "synced.m4a")]
            + ["--json", str(result_json)],
            lambda run: parse_ours(run, result_json),
        ),
        "audio-offset-finder": (
            [str(peers / "audio-offset-finder"), "--find-offset-of", str(recorder), "--within", str(camera)]
            + ["--json"],
            parse_aof,
        ),
        "syncstart": (
            [str(peers / "syncstart"), str(camera), str(recorder), "-s", "-q"],
            lambda run: parse_syncstart(run, recorder),
        ),
    }
    print(
        f"pair: {camera.name} (AAC 48 kHz, 15 dB SNR) + {recorder.name} (WAV 44.1 kHz, low-passed, "
        f"+{DRIFT_PPM:g} ppm), {args.minutes:g} min; truth: offset {truth * 1000:+.1f} ms at the "
        f"recorder's start, {DRIFT_PPM:+g} ppm (= {DRIFT_PPM * duration / 1000:.0f} ms by the end)",
        flush=True,
    )
    rows = []
    for name, (command, parse) in tools.items():
        run = measure(command)
        try:
            if run["status"] and name != "syncstart":
                raise RuntimeError(
                    run["stderr"].strip().splitlines()[-1] if run["stderr"].strip() else "failed"
                )
            figures = parse(run)
            error_ms = abs(figures["offset"] - truth) * 1000
        except (RuntimeError, ValueError, KeyError, IndexError, SyntaxError) as exc:
            figures, error_ms = (
                {"offset": None, "score": None, "drift": None, "failure": str(exc)[:200]},
                None,
            )
        rows.append({"tool": name, **run, **figures, "error_ms": error_ms})
        print(f"  {name}: {run['seconds']:.1f} s", flush=True)

    ours = rows[0]
    print()
    table = []
    for row in rows:
        table.append(
            (
                row["tool"],
                f"{row['seconds']:.2f}",
                f"{row['seconds'] / ours['seconds']:.1f}x",
                f"{row['rss_mb']:.0f}",
                f"{row['rss_mb'] / ours['rss_mb']:.1f}x",
                f"{duration / row['seconds']:.0f}x",
                f"{row['offset'] * 1000:+.2f}" if row["offset"] is not None else "failed",
                f"{row['error_ms']:.3f}" if row["error_ms"] is not None else "-",
                f"{row['drift']:+.2f}" if row["drift"] is not None else "n/a",
                f"{row['score']:.1f}" if row["score"] is not None else "n/a",
            )
        )
        if "failure" in row:
            table.append(f"    {row['tool']} failed: {row['failure']}")
    print_table(HEADERS, table, WIDTHS, rule=True)
    shutil.rmtree(out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
