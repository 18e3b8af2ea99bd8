"""Benchmark: the browser preview of an HEVC phone clip against a plain ffmpeg conversion to H.264.

    python bench/proxy.py [--seconds 42]

The input is the real tests/media/example.mp4 (a 1280×720 talk with slides) scaled to 1080p
and encoded as HEVC, as a phone records it, kept in bench/.cache/. Cutroom's preview (at most
720p, CRF 23, ≤ 2 Mbit/s, sound copied when browsers play it) runs as `jobs.proxy` does in
preparation; the peer is what a person would type: `ffmpeg -i IN -c:v libx264 -c:a aac OUT.mp4`
(full size, libx264's defaults).
"""

import argparse
import sys
import tempfile
from pathlib import Path

# First: it puts the repository on sys.path, for `jobs` and `tests`.
from common import cached, measure, print_table

from jobs.ffmpeg import ffmpeg_exe
from jobs.probe import probe
from tests import media

CALL = "import sys; from jobs.proxy import proxy_if_needed; print(proxy_if_needed(sys.argv[1], sys.argv[2]))"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seconds", type=float, default=42.0, help="length of the clip (example.mp4 is 42.4 s)"
    )
    args = parser.parse_args()
    (clip,) = cached(lambda path: media.make_hevc(path, seconds=args.seconds), f"hevc-{args.seconds:g}s.mp4")
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        ours = measure([sys.executable, "-c", CALL, clip, out])
        assert ours["status"] == 0, ours["stderr"]
        preview = out / ours["stdout"].strip()
        plain = out / "plain.mp4"
        peer = measure([ffmpeg_exe(), "-v", "error", "-i", clip, "-c:v", "libx264", "-c:a", "aac", plain])
        assert peer["status"] == 0, peer["stderr"]
        rows = []
        for name, run, path in (
            ("Cutroom preview", ours, preview),
            ("ffmpeg -c:v libx264 (defaults)", peer, plain),
        ):
            info = probe(path)
            rows.append(
                [
                    name,
                    f"{info.video.width}×{info.video.height}",
                    f"{run['seconds']:.1f}",
                    f"{run['seconds'] / ours['seconds']:.2f}",
                    f"{info.duration / run['seconds']:.1f}×",
                    f"{path.stat().st_size / 1e6:.2f}",
                    f"{path.stat().st_size / clip.stat().st_size:.2f}",
                ]
            )
    print(f"input: {clip.name}, {clip.stat().st_size / 1e6:.2f} MB, {args.seconds:g} s HEVC 1920×1080")
    headers = ["run", "size", "wall s", "× Cutroom", "× realtime", "MB", "× input"]
    print_table(headers, rows, [32, 10, 7, 9, 10, 6, 7], rule=True)


if __name__ == "__main__":
    main()
