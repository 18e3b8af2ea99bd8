"""Sync on recordings that hold the same sound twice: what the search applies, or why it refuses.

    python bench/sync_repeats.py [--before REV] [--minutes M]

Builds the cases of tests/test_sync.py (a 25 s jingle played twice, 40.817 s apart, in a spoken
scene; recorders with and without +300 ppm drift) plus the real timbl pair and a long drifting
pair, runs find_offset on each and prints the offset found against the truth with a verdict.
With --before REV the same cases also go through jobs/sync.py as it was at git revision REV
(e.g. the commit before the doubt checks; REV must be older than the split of jobs/sync.py into
the jobs/sync/ package, which this loads as one file), side by side. With --minutes M, bench/sync.py's
M-minute camera/recorder pair (+50 ppm, cached in bench/.cache/) is added, for the run time.
"""

import argparse
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

# First: it puts the repository on sys.path, for `jobs` and `tests`.
from common import ROOT, print_table

from jobs.errors import MediaError
from tests.media import derive_track, jingle, scene_with_repeats, speech_scene, write_track

JINGLE_AT, JINGLE_SECONDS = (10.0, 50.817), 25.0
OTHER_WORDS = (
    "Tomatoes need sun, water and patience before the first fruit appears in the garden.",
    "The library closes early on Sundays, so return your books before noon.",
    "Our cat sleeps on the warm windowsill every afternoon when the sun comes round.",
)
# An offset this close to the truth is right; refusals are named by the start of their reason.
RIGHT = 0.001
REFUSALS = {
    "The external audio fits": "refused: two places",
    "The match is not confirmed": "refused: not confirmed",
    "These two recordings": "refused: no match",
}
HEADERS = ("case", "truth s", "right is", "offset s", "verdict", "secs")
WIDTHS = (36, 8, 8, 9, 26, 5)


def cases(folder: Path, minutes: float) -> list[tuple[str, Path, Path, float, bool]]:
    """(name, camera, external, true offset, whether only a refusal is right)."""
    scene = scene_with_repeats(110, JINGLE_AT, JINGLE_SECONDS, seed=4)
    camera = write_track(folder / "camera.wav", derive_track(scene, 0, 100, snr_db=25, seed=5))
    made = []
    for drift in (0, 300):
        for copy, at in enumerate(JINGLE_AT, 1):
            name = f"jingle only (copy {copy}), {drift:+d} ppm"
            external = recorder(scene, at + 1, JINGLE_SECONDS - 2, drift, folder / f"only{copy}{drift}.wav")
            made.append((name, camera, external, at + 1, True))
        for copy, (start, seconds) in enumerate(((4.0, 45.0), (45.817, 50.0)), 1):
            name = f"jingle + speech (copy {copy}), {drift:+d} ppm"
            external = recorder(scene, start, seconds, drift, folder / f"around{copy}{drift}.wav")
            made.append((name, camera, external, start, False))
    other = speech_scene(35, seed=7, sentences=OTHER_WORDS)
    shared = write_track(folder / "shared.wav", derive_track(scene, 36, 64, snr_db=25, seed=5))
    external = write_track(folder / "jingle-then-other.wav", _join(jingle(JINGLE_SECONDS), other))
    made.append(("jingle, then other words", shared, external, JINGLE_AT[1] - 36, True))
    timbl = ROOT / "tests/media/timbl_1.mp3", ROOT / "tests/media/timbl_2.mp3"
    made.append(("real pair timbl_1 + timbl_2", *timbl, 12.254, False))
    long_scene = speech_scene(195, seed=3)
    long_camera = write_track(folder / "long-camera.wav", derive_track(long_scene, 10, 180, snr_db=20))
    long_recorder = derive_track(long_scene, 7.5, 186, drift_ppm=150, lowpass=4000)
    long_external = write_track(folder / "long.wav", long_recorder)
    made.append(("long pair 180 s, +150 ppm", long_camera, long_external, -2.5, False))
    if minutes:
        from sync import DRIFT_PPM, RECORDER_LEAD, make_pair

        name = f"bench/sync.py pair {minutes:g} min, {DRIFT_PPM:+g} ppm"
        made.append((name, *make_pair(minutes), -RECORDER_LEAD, False))
    return made


def recorder(scene, start: float, seconds: float, drift_ppm: float, path: Path) -> Path:
    track = derive_track(scene, start, seconds, snr_db=30, lowpass=4000, drift_ppm=drift_ppm, seed=7)
    return write_track(path, track)


def _join(*parts):
    import numpy as np

    return np.concatenate(parts)


def engine(revision: str | None):
    """find_offset of the working tree, or of jobs/sync.py at git `revision`."""
    if revision is None:
        from jobs.sync import find_offset

        return find_offset
    source = subprocess.run(
        ["git", "show", f"{revision}:jobs/sync.py"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    module = types.ModuleType(f"sync_at_{revision}")
    exec(compile(source, f"{revision}:jobs/sync.py", "exec"), module.__dict__)
    return module.find_offset


def verdict(find_offset, camera: Path, external: Path, truth: float, refuse: bool) -> tuple[str, str, float]:
    """(offset shown, verdict, seconds taken)."""
    started = time.monotonic()
    try:
        found = find_offset(camera, external)["offset_seconds"]
    except MediaError as error:
        reason = next((label for start, label in REFUSALS.items() if str(error).startswith(start)), "refused")
        return "-", reason, time.monotonic() - started
    seconds = time.monotonic() - started
    error = found - truth
    if refuse:
        return (
            f"{found:+.3f}",
            "APPLIED" + (f", WRONG by {error:+.3f} s" if abs(error) > RIGHT else ""),
            seconds,
        )
    if abs(error) <= RIGHT:
        return f"{found:+.4f}", "right", seconds
    if abs(error) < 1:
        return f"{found:+.4f}", f"off by {error * 1000:+.1f} ms", seconds
    return f"{found:+.3f}", f"WRONG by {error:+.3f} s", seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--before", metavar="REV", help="also run jobs/sync.py as it was at this git revision"
    )
    parser.add_argument("--minutes", type=float, default=0, help="add bench/sync.py's pair this long")
    args = parser.parse_args()
    engines = {"now": engine(None)}
    if args.before:
        engines = {args.before: engine(args.before), **engines}
    with tempfile.TemporaryDirectory(prefix="cutroom-bench-repeats-") as folder:
        print("generating the cases with espeak-ng...", flush=True)
        made = cases(Path(folder), args.minutes)
        for label, find_offset in engines.items():
            print(f"\njobs/sync.py {'of the working tree' if label == 'now' else 'at ' + label}:")
            rows = []
            for name, camera, external, truth, refuse in made:
                offset, said, seconds = verdict(find_offset, camera, external, truth, refuse)
                expected = "refuse" if refuse else "apply"
                rows.append((name, f"{truth:+.3f}", expected, offset, said, f"{seconds:.1f}"))
            print_table(HEADERS, rows, WIDTHS, rule=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
