"""Run every benchmark: silence removal, sync and transcription, each beside its peers.

    python bench/run.py                 # full size: 10-minute talk, 1-hour pair, 5 minutes of speech
    python bench/run.py --quick         # small inputs, to check the benches work

Each bench installs its peers into bench/.venv (PyPI only), caches generated inputs in
bench/.cache/ and prints a table with times, peak memory and ratios against Cutroom.
"""

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = {
    "silence": (["--minutes", "10"], ["--minutes", "1"]),
    "sync": (["--minutes", "60"], ["--minutes", "5"]),
    "transcribe": (["--minutes", "5"], ["--minutes", "1"]),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small inputs")
    parser.add_argument("only", nargs="*", metavar="BENCH", help=f"benches to run: {', '.join(BENCHES)}")
    args = parser.parse_args()
    failed = []
    for name, (full, quick) in BENCHES.items():
        if args.only and name not in args.only:
            continue
        print(f"\n=== {name} ===", flush=True)
        code = subprocess.call([sys.executable, str(HERE / f"{name}.py"), *(quick if args.quick else full)])
        if code:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
