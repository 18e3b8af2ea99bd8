"""What the benches share: paths, the peers' venv, cached inputs, measuring a run, its table, and
the word error rate of a transcript.

Importing this module also puts the repository on sys.path, so a bench run as a script from
anywhere can import `jobs` and `tests.media` (bench/ is not a package).
"""

import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CACHE = HERE / ".cache"
OUR_PYTHON = ROOT / ".venv" / "bin" / "python"
PEER_VENV = HERE / ".venv"

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def peer_venv(packages: Sequence[str], venv: Path = PEER_VENV, python: str = sys.executable) -> Path:
    """`venv`'s bin folder (bench/.venv), with `packages` ("name==version") installed from PyPI if
    missing. A peer whose pins clash with the others' gets a venv of its own, made by `python`."""
    if not (venv / "bin" / "python").exists():
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
    installed = {
        folder.name.removesuffix(".dist-info").lower()
        for folder in venv.glob("lib/python*/site-packages/*.dist-info")
    }
    missing = [package for package in packages if dist_info_name(package) not in installed]
    if missing:
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", *missing], check=True)
    return venv / "bin"


def dist_info_name(package: str) -> str:
    """How the .dist-info folder of "name==version" is named (without the suffix, lower case)."""
    name, version = package.split("==")
    return f"{re.sub(r'[-_.]+', '_', name).lower()}-{version.lower()}"


def cached(make: Callable[..., object], *names: str) -> list[Path]:
    """The files `names` under bench/.cache/, made once by `make(*temporary_paths)`.

    Each is renamed into place only after `make` returns, so an interrupted run leaves no
    half-made input behind to be taken for a finished one.
    """
    paths = [CACHE / name for name in names]
    if all(path.exists() for path in paths):
        return paths
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
    if not (CACHE / ".gitignore").exists():
        (CACHE / ".gitignore").write_text("*\n")
    parts = [path.with_name(f"{path.stem}.part{path.suffix}") for path in paths]
    make(*parts)
    for part, path in zip(parts, paths, strict=True):
        os.replace(part, path)
    return paths


def measure(command: Sequence[str | Path], *, env: dict[str, str] | None = None, cwd: Path = ROOT) -> dict:
    """Run `command` as a subprocess with no input and return what it cost and printed.

    seconds: wall time; cpu_seconds: user + system time; rss_mb: peak RSS in MiB of the largest
    process of its tree (all from os.wait4); status: exit status; stdout, stderr: its output.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        process = subprocess.Popen(
            [str(part) for part in command],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
        )
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.monotonic() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return {
            "seconds": seconds,
            "cpu_seconds": usage.ru_utime + usage.ru_stime,
            "rss_mb": usage.ru_maxrss / 1024,
            "status": process.returncode,
            "stdout": out.read().decode("utf-8", "replace"),
            "stderr": err.read().decode("utf-8", "replace"),
        }


def print_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[object] | str],
    widths: Sequence[int],
    *,
    left: int = 1,
    gap: str = " ",
    rule: bool = False,
) -> None:
    """Print `rows` under `headers` in columns `widths` wide, the first `left` of them left-aligned.

    Cells are printed as given (format numbers before); a row that is a plain string is printed
    as it is, as a note under the row before it. With `rule`, a line of dashes under the headers.
    """

    def line(cells: Sequence[object]) -> str:
        return gap.join(
            f"{cell!s:<{width}}" if index < left else f"{cell!s:>{width}}"
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        )

    header = line(headers)
    print(header)
    if rule:
        print("-" * len(header))
    for row in rows:
        print(row if isinstance(row, str) else line(row))


# Numbers as Whisper may write them (digits or words) count the same.
ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen"
)
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety"
ORDINALS = {"1st": "first", "2nd": "second", "3rd": "third"}


def spelled(word: str) -> list[str]:
    """`word` with a number from 0 to 99 written out ("40" → ["forty"])."""
    if word in ORDINALS:
        return [ORDINALS[word]]
    if not word.isdigit() or int(word) > 99:
        return [word]
    n = int(word)
    ones, tens = ONES.split(), TENS.split()
    if n < 20:
        return [ones[n]]
    return [tens[n // 10]] + ([ones[n % 10]] if n % 10 else [])


def wer_words(text: str) -> list[str]:
    """Words as WER counts them: lower case, without punctuation (a hyphen parts words), numbers spelled."""
    words = (word.strip("'") for word in re.findall(r"[a-z0-9']+", text.lower()))
    return [part for word in words if word for part in spelled(word)]


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate: word edits (insert, delete, substitute) over the reference's words."""
    ref, hyp = wer_words(reference), wer_words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, word in enumerate(ref, 1):
        previous, row[0] = row[0], i
        for j, other in enumerate(hyp, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (word != other))
    return row[-1] / len(ref)


def reference_text(path: Path) -> str:
    """The text of a reference transcript file: without its "#" note lines, and with the doubtful
    words (in [brackets]) counted as written."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return " ".join(line for line in lines if not line.startswith("#")).replace("[", "").replace("]", "")
