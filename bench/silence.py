"""Bench silence removal: Cutroom against unsilence, smartcut and a plain re-encode, same input, same run.

    python bench/silence.py [--minutes 10] [--skip unsilence,smartcut] [--gops 2,8]

Generates (once, cached in bench/.cache/) a 1280×720 30 fps H.264 "talk" of voice-like tone
bursts with about 25 % pauses, twice: with a keyframe every 2 s and every 8 s. Every tool runs
as a subprocess; wall time and peak RSS (largest process of its tree, from os.wait4) are measured.
The peers get Cutroom's own keep list (smartcut, the re-encode) or its threshold (unsilence).
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
from common import CACHE, OUR_PYTHON, cached, measure, peer_venv, print_table

from jobs.ffmpeg import ffmpeg_exe
from jobs.probe import probe

PEERS = ("unsilence==1.0.9", "smartcut==1.7")
RATE = 48000
GOPS = (2, 8)


def talk_sound(path: Path, seconds: float, seed: int = 7) -> None:
    """Voice-like bursts (4–14 s) and pauses (1–5 s, ~25 % of the time) over faint noise, in blocks."""
    rng = np.random.default_rng(seed)
    spans, at = [], 0.0
    while at < seconds:
        talk = rng.uniform(4, 14)
        spans.append((at, min(seconds, at + talk)))
        at += talk + rng.uniform(1, 5)
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


def talk_video(minutes: float, gop: int) -> Path:
    seconds = minutes * 60
    name = f"talk-{minutes:g}min-gop{gop}s.mp4"

    def encode(part: Path) -> None:
        [sound] = cached(lambda wav: talk_sound(wav, seconds), f"talk-{minutes:g}min.wav")
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


def run(command: list[str]) -> tuple[float, float, int]:
    """(wall seconds, peak RSS in MB, exit status) of `command` and the processes it starts."""
    result = measure(command)
    if result["status"]:
        print(f"  ! {command[0]} failed: {result['stderr'][-400:]}", file=sys.stderr)
    return result["seconds"], result["rss_mb"], result["status"]


def between_terms(keep: list[list[float]]) -> str:
    return "+".join(f"between(t,{a:.4f},{b:.4f})" for a, b in keep)


def tools(
    peers: Path, source: Path, out: Path, keep: list[list[float]], threshold: float
) -> dict[str, tuple[list[str], Path]]:
    flat = ",".join(f"{value:.3f}" for pair in keep for value in pair)
    select = between_terms(keep)
    return {
        "unsilence": (
            [
                str(peers / "unsilence"),
                *(str(source), str(out / "unsilence.mp4"), "-y", "-t", str(os.cpu_count() or 2)),
                *("-sl", f"{threshold:.1f}", "-ss", "1000", "-st", "0.2", "-sit", "0.2"),
            ],
            out / "unsilence.mp4",
        ),
        "smartcut": (
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--skip", default="", help="comma-separated tools to leave out")
    parser.add_argument("--gops", default=",".join(map(str, GOPS)), help="keyframe intervals, s (2,8)")
    args = parser.parse_args()
    skip = {name.strip() for name in args.skip.split(",") if name.strip()}
    peers = peer_venv(PEERS)
    rows = []
    for gop in (int(value) for value in args.gops.split(",")):
        source = talk_video(args.minutes, gop)
        out = CACHE / f"out-gop{gop}s"
        out.mkdir(exist_ok=True)
        cuts = out / "cuts.json"
        ours = [
            str(OUR_PYTHON),
            "-m",
            "jobs",
            "silence",
            str(source),
            str(out / "cutroom.mp4"),
            "--json",
            str(cuts),
        ]
        print(f"cutroom on {source.name} …", flush=True)
        seconds, peak, status = run(ours)
        if status:
            return 1
        figures = json.loads(cuts.read_text())
        cutlist = figures.get("cutlist", figures)
        render = figures.get("render", {})
        rows.append(
            ("cutroom " + render.get("mode", "?"), source, seconds, peak, out / "cutroom.mp4", seconds)
        )
        print(
            f"  {seconds:.1f} s, {peak:.0f} MB; {render}, removed {cutlist['removed_share']:.0%}", flush=True
        )
        ours_seconds = seconds
        for name, (command, output) in tools(
            peers, source, out, cutlist["keep"], cutlist["threshold_db"]
        ).items():
            if name in skip:
                continue
            print(f"{name} on {source.name} …", flush=True)
            output.unlink(missing_ok=True)
            seconds, peak, status = run(command)
            rows.append((name, source, seconds, peak, output if not status else None, ours_seconds))
            print(f"  {seconds:.1f} s, {peak:.0f} MB, {seconds / ours_seconds:.2f}× ours", flush=True)
    print()
    print_table(
        ("tool", "input", "seconds", "peak MB", "out s", "× ours"),
        [
            (
                name,
                source.name,
                f"{seconds:.1f}",
                f"{peak:.0f}",
                f"{probe(output).duration:.1f}" if output and output.exists() else "failed",
                f"{seconds / ours_seconds:.2f}",
            )
            for name, source, seconds, peak, output, ours_seconds in rows
        ],
        (18, 24, 8, 8, 8, 7),
        left=2,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
