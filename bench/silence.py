"""Bench silence removal: Cutroom against unsilence, auto-editor, smartcut and a plain re-encode, same run.

    python bench/silence.py [--minutes 10] [--skip unsilence,smartcut] [--inputs talk2,talk8,dense2]

Generates (once, cached in bench/.cache/) 1280×720 30 fps H.264 "talks" of voice-like tone
bursts over faint noise: `talk` with 4–14 s of speech between pauses of 1–5 s (about 25 %
pauses), encoded with a keyframe every 2 s (talk2) and every 8 s (talk8), and `dense` with a
pause every 5–6 s (3.5–4.5 s of speech, pauses of 1.2–2 s) and 2 s GOPs (dense2). Every tool
runs as a subprocess; wall time, CPU time (user + system of its whole tree) and peak RSS (the
largest process of its tree) come from os.wait4. CPU utilisation is CPU s / (wall s × cores).
unsilence gets Cutroom's threshold, auto-editor its own detection with Cutroom's margin,
smartcut and the re-encode Cutroom's keep list.
"""

import argparse
import json
import os
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np

# First: it puts the repository on sys.path, for `jobs` and `tests`.
from common import CACHE, HERE, OUR_PYTHON, cached, measure, peer_venv, print_table

from jobs.ffmpeg import ffmpeg_exe
from jobs.probe import probe
from jobs.render.parallel import usable_cores

PEERS = ("unsilence==1.0.9", "smartcut==1.7")
# The issue measured auto-editor 28, the last pure-Python line before the rewrite whose package
# fetches a binary at install time; PyPI's index here holds 22.x, 23.x and 29.x only, so 23.32.1
# it is. It pins av==10.0.0, which has no wheel for this Python and clashes with smartcut's av: it
# gets a venv of its own on Python 3.10 and builds av from source against Debian's FFmpeg 5.1
# (apt-get install libavformat-dev libavcodec-dev libavdevice-dev libavfilter-dev libswscale-dev
# libswresample-dev pkg-config), with Cython < 3.
AUTO_EDITOR = "auto-editor==23.32.1"
AUTO_EDITOR_PYTHON = "python3.10"
AV_BUILD = ("Cython==0.29.37", "wheel==0.48.0")
AUTO_EDITOR_NUMPY = "numpy==1.26.4"  # it asks for numpy >= 1.22 but calls np.float_, gone in 2.0
RATE = 48000
# (talk length range, pause length range) in seconds, and the keyframe interval.
INPUTS = {
    "talk2": ("talk", 2),
    "talk8": ("talk", 8),
    "dense2": ("dense", 2),
}
SPACING = {"talk": ((4, 14), (1, 5)), "dense": ((3.5, 4.5), (1.2, 2.0))}


def talk_sound(path: Path, seconds: float, seed: int = 7, spacing: str = "talk") -> None:
    """Voice-like bursts and pauses (lengths from SPACING[spacing]) over faint noise, in blocks."""
    (talk_lo, talk_hi), (pause_lo, pause_hi) = SPACING[spacing]
    rng = np.random.default_rng(seed)
    spans, at = [], 0.0
    while at < seconds:
        talk = rng.uniform(talk_lo, talk_hi)
        spans.append((at, min(seconds, at + talk)))
        at += talk + rng.uniform(pause_lo, pause_hi)
    total = int(seconds * RATE)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        for block in range(0, total, RATE):
            t = np.arange(block, min(total, block + RATE)) / RATE
            voiced = np.zeros(t.size, bool)
            for a, b in spans:
                voiced |= (t >= a) & (t < b)
            syllables = 0.55 + 0.45 * np.abs(np.sin(2 * np.pi * 2.5 * t))
            voice = 0.12 * syllables * (np.sin(2 * np.pi * 160 * t) + 0.6 * np.sin(2 * np.pi * 430 * t))
            signal = np.where(voiced, voice, 0.0) + rng.normal(0, 0.0006, t.size)
            out.writeframes((np.clip(signal, -1, 1) * 32767).astype("<i2").tobytes())


def talk_video(minutes: float, gop: int, spacing: str = "talk") -> Path:
    seconds = minutes * 60
    name = f"{spacing}-{minutes:g}min-gop{gop}s.mp4"

    def encode(part: Path) -> None:
        [sound] = cached(
            lambda wav: talk_sound(wav, seconds, spacing=spacing), f"{spacing}-{minutes:g}min.wav"
        )
        print(f"generating {name} …", flush=True)
        subprocess.run(
            [
                ffmpeg_exe(),
                *("-hide_banner", "-nostdin", "-loglevel", "error", "-y"),
                *("-f", "lavfi", "-i", f"testsrc2=size=1280x720:rate=30:duration={seconds}"),
                *("-i", str(sound)),
                *("-c:v", "libx264", "-preset", "superfast", "-crf", "23", "-bf", "2", "-pix_fmt", "yuv420p"),
                *("-g", str(gop * 30), "-keyint_min", str(gop * 30), "-sc_threshold", "0"),
                *("-c:a", "aac", "-b:a", "128k", "-movflags", "+faststart", str(part)),
            ],
            check=True,
        )

    [path] = cached(encode, name)
    return path


def run(command: list[str]) -> dict:
    """What `command` and the processes it starts cost: measure()'s figures, failures printed."""
    result = measure(command)
    if result["status"]:
        print(f"  ! {Path(command[0]).name} failed: {result['stderr'][-400:]}", file=sys.stderr)
    return result


def between_terms(keep: list[list[float]]) -> str:
    return "+".join(f"between(t,{a:.4f},{b:.4f})" for a, b in keep)


def tools(
    peers: Path, auto_editor: Path | None, source: Path, out: Path, cutlist: dict
) -> dict[str, tuple[list[str], Path]]:
    keep = cutlist["keep"]
    flat = ",".join(f"{value:.3f}" for pair in keep for value in pair)
    select = between_terms(keep)
    found = {
        "unsilence 1.0.9": (
            [
                str(peers / "unsilence"),
                *(str(source), str(out / "unsilence.mp4"), "-y", "-t", str(usable_cores())),
                *("-sl", f"{cutlist['threshold_db']:.1f}", "-ss", "1000", "-st", "0.2", "-sit", "0.2"),
            ],
            out / "unsilence.mp4",
        ),
        "smartcut 1.7": (
            [str(peers / "smartcut"), str(source), str(out / "smartcut.mp4"), "-k", flat],
            out / "smartcut.mp4",
        ),
        "ffmpeg re-encode": (
            [
                ffmpeg_exe(),
                *("-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", str(source)),
                *(
                    "-vf",
                    f"select='{select}',setpts=N/FRAME_RATE/TB",
                    "-af",
                    f"aselect='{select}',asetpts=N/SR/TB",
                ),
                *("-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p"),
                *("-c:a", "aac", "-movflags", "+faststart", str(out / "reencode.mp4")),
            ],
            out / "reencode.mp4",
        ),
    }
    if auto_editor:
        found["auto-editor 23.32.1"] = (
            [
                str(auto_editor / "auto-editor"),
                *(str(source), "-o", str(out / "auto-editor.mp4"), "--no-open", "--progress", "none"),
                *("--margin", f"{cutlist['margin']}sec", "--ffmpeg-location", ffmpeg_exe()),
            ],
            out / "auto-editor.mp4",
        )
    return found


def auto_editor_venv() -> tuple[Path | None, str]:
    """auto-editor's bin folder, or None and why it could not be installed."""
    venv = HERE / ".venv-auto-editor"
    try:
        folder = peer_venv(AV_BUILD, venv, python=AUTO_EDITOR_PYTHON)
        if not (folder / "auto-editor").exists():  # pip's build isolation would take Cython 3
            install = [folder / "python", "-m", "pip", "install", "-q", "--no-build-isolation", "av==10.0.0"]
            subprocess.run(install, check=True)
        return peer_venv([AUTO_EDITOR, AUTO_EDITOR_NUMPY], venv), ""
    except (OSError, subprocess.CalledProcessError) as exc:
        return None, f"{AUTO_EDITOR} could not be installed here ({exc}); see the comment at AUTO_EDITOR"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--skip", default="", help="comma-separated tools to leave out (first word)")
    parser.add_argument("--inputs", default=",".join(INPUTS), help=f"of {', '.join(INPUTS)}")
    args = parser.parse_args()
    skip = {name.strip() for name in args.skip.split(",") if name.strip()}
    peers = peer_venv(PEERS)
    auto_editor, missing = (None, "") if "auto-editor" in skip else auto_editor_venv()
    cores = usable_cores()
    loads = [os.getloadavg()]
    rows = []
    for name in args.inputs.split(","):
        spacing, gop = INPUTS[name.strip()]
        source = talk_video(args.minutes, gop, spacing)
        out = CACHE / f"out-{name}"
        out.mkdir(exist_ok=True)
        cuts = out / "cuts.json"
        ours = [OUR_PYTHON, "-m", "jobs", "silence", source, out / "cutroom.mp4", "--json", cuts]
        print(f"cutroom on {source.name} …", flush=True)
        mine = run([str(part) for part in ours])
        if mine["status"]:
            return 1
        figures = json.loads(cuts.read_text())
        cutlist, render = figures.get("cutlist", figures), figures.get("render", {})
        how = render.get("mode", "?")
        if how == "smart":
            how += f": {render['copied_seconds']:.0f} s copied, {render['encoded_seconds']:.0f} s encoded"
        rows.append((f"Cutroom ({how})", name, mine, out / "cutroom.mp4", mine))
        print(f"  {mine['seconds']:.1f} s; {render}, removed {cutlist['removed_share']:.0%}", flush=True)
        for tool, (command, output) in tools(peers, auto_editor, source, out, cutlist).items():
            if tool.split()[0] in skip:
                continue
            print(f"{tool} on {source.name} …", flush=True)
            output.unlink(missing_ok=True)
            theirs = run(command)
            rows.append((tool, name, theirs, output if not theirs["status"] else None, mine))
            print(f"  {theirs['seconds']:.1f} s, {theirs['seconds'] / mine['seconds']:.2f}× ours", flush=True)
    loads.append(os.getloadavg())
    print()
    print(f"{args.minutes:g}-minute inputs; {cores} usable cores; load average (1, 5, 15 min) ", end="")
    print(" → ".join("{:.1f} {:.1f} {:.1f}".format(*load) for load in loads))
    if missing:
        print(f"auto-editor left out: {missing}")
    print_table(
        ("tool", "input", "wall s", "CPU s", "CPU use", "peak MB", "out s", "× Cutroom"),
        [
            (
                tool,
                name,
                f"{result['seconds']:.1f}",
                f"{result['cpu_seconds']:.1f}",
                f"{result['cpu_seconds'] / (result['seconds'] * cores):.0%}",
                f"{result['rss_mb']:.0f}",
                f"{probe(output).duration:.1f}" if output and output.exists() else "failed",
                f"{result['seconds'] / mine['seconds']:.2f}",
            )
            for tool, name, result, output, mine in rows
        ],
        (52, 6, 7, 7, 7, 7, 6, 9),
        left=2,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
