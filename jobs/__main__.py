"""Command line over the engine: the same functions the workers run.

    python -m jobs silence IN OUT [--threshold-db DB|auto] [--min-silence S] [--margin S] [--json CUTS.json]
    python -m jobs sync PRIMARY EXTERNAL OUT [--keep-camera-audio] [--json RESULT.json]
    python -m jobs transcribe IN --out-dir DIR [--model NAME_OR_PATH] [--language LANG] [--no-vad]
    python -m jobs export MEDIA CUTS.json OUT [--format F] [--absolute] [--transcript TRANSCRIPT.json]
    python -m jobs probe IN

Each shows a progress bar on a terminal and exits non-zero with a one-line reason on bad input
(2 for an output name whose extension cannot hold the result, before any work is done). `probe`
prints what the file holds as JSON (jobs.mediainfo.MediaInfo); the web process runs it in a child.
"""

import argparse
import json
import sys
import time
from pathlib import Path

from jobs.containers import UnfitOutput
from jobs.errors import CLI_ERROR, MediaError


class ProgressBar:
    """A one-line bar on a terminal; silent when stderr is not one (scripts, CI logs)."""

    def __init__(self, stream=sys.stderr):
        self.stream, self.enabled, self.last = stream, stream.isatty(), 0.0

    def __call__(self, percent: float, stage: str) -> None:
        now = time.monotonic()
        if not self.enabled or (percent < 100 and now - self.last < 0.1):
            return
        self.last = now
        filled = int(percent / 100 * 30)
        self.stream.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {percent:5.1f}% {stage[:40]:<40}")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")


def threshold(value: str) -> float | str:
    if value == "auto":
        return value
    try:
        return float(value)
    except ValueError:
        raise argparse.ArgumentTypeError("use a dBFS number such as -40, or 'auto'") from None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m jobs", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("silence", help="cut the pauses out of a recording")
    s.add_argument("input", type=Path)
    s.add_argument("output", type=Path)
    s.add_argument("--threshold-db", type=threshold, default="auto", help="dBFS, or auto (default)")
    s.add_argument("--min-silence", type=float, default=0.5, help="shortest pause to cut, s (0.5)")
    s.add_argument("--margin", type=float, default=0.2, help="audio kept around speech, s (0.2)")
    s.add_argument("--json", type=Path, help="write the cut list and figures here")

    y = sub.add_parser("sync", help="line up a separate recording with the camera's sound and swap it in")
    y.add_argument("primary", type=Path)
    y.add_argument("external", type=Path)
    y.add_argument("output", type=Path)
    y.add_argument("--keep-camera-audio", action="store_true", help="keep the camera sound as track 2")
    y.add_argument("--json", type=Path, help="write offset, confidence and drift here")

    t = sub.add_parser("transcribe", help="speech to SRT, WebVTT, text and JSON")
    t.add_argument("input", type=Path)
    t.add_argument("--out-dir", type=Path, required=True)
    t.add_argument("--model", help="Whisper model name or path (default: packaged tiny.en)")
    t.add_argument("--language", help="language code, default: detect")
    t.add_argument(
        "--vad",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="hear only what the voice activity filter marks as speech (default: on)",
    )

    e = sub.add_parser("export", help="the cut as a timeline for an editor (format from OUT's extension)")
    e.add_argument("input", type=Path, metavar="media", help="the recording the cut list was made from")
    e.add_argument("cuts", type=Path, help="the JSON that `silence --json` writes (or a bare cut list)")
    e.add_argument("output", type=Path, help=".fcpxml, .xml (Premiere), .edl, .otio, .mlt or .kdenlive")
    e.add_argument(
        "--format",
        choices=TimelineFormats(),
        metavar="FORMAT",  # else argparse lists the choices, importing the writers, as it builds the parser
        help="instead of the extension's format: %(choices)s",
    )
    e.add_argument("--absolute", action="store_true", help="absolute media paths (default: relative to OUT)")
    e.add_argument(
        "--transcript", type=Path, help="transcript JSON: write its subtitles fitted to the cut beside"
    )
    r = sub.add_parser("probe", help="what a recording holds, as JSON, or why Cutroom cannot use it")
    r.add_argument("input", type=Path)
    return p


class TimelineFormats:
    """The timeline formats, as `--format` choices read only when --format is given or help shown:
    the web process runs `probe` in a child for every upload, which needs none of the writers."""

    def __contains__(self, name: object) -> bool:
        return name in self._names()

    def __iter__(self):
        return iter(self._names())

    @staticmethod
    def _names() -> list[str]:
        from jobs.timeline import FORMATS

        return sorted(FORMATS)


def run(args: argparse.Namespace, progress: ProgressBar) -> dict:
    if args.command == "probe":  # says itself, in the person's words, when the file is missing
        from jobs.probe import probe

        return probe(args.input).to_dict()
    for path in [getattr(args, name, None) for name in ("input", "primary", "external")]:
        if path is not None and not path.is_file():
            raise MediaError(f"{path}: no such file.")
    if args.command == "silence":
        from jobs.silence import remove_silence

        result = remove_silence(
            args.input,
            args.output,
            threshold_db=args.threshold_db,
            min_silence=args.min_silence,
            margin=args.margin,
            on_progress=progress,
        )
    elif args.command == "sync":
        from jobs.sync import sync_audio

        result = sync_audio(
            args.primary,
            args.external,
            args.output,
            keep_camera_audio=args.keep_camera_audio,
            on_progress=progress,
        )
    elif args.command == "export":
        from jobs.timeline import export_timeline, read_cutlist

        result = export_timeline(
            args.input,
            read_cutlist(args.cuts),
            args.output,
            format=args.format,
            absolute=args.absolute,
            transcript=json.loads(args.transcript.read_text()) if args.transcript else None,
        )
    else:
        from jobs.transcribe import transcribe

        args.out_dir.mkdir(parents=True, exist_ok=True)
        result = transcribe(
            args.input,
            args.out_dir,
            model=args.model,
            language=args.language,
            vad=args.vad,
            on_progress=progress,
        )
    return result


def summary(command: str, result: dict) -> str:
    if command == "probe":
        return json.dumps(result)
    if command == "silence":
        return (
            f"removed {result['removed_seconds']:.1f} s of {result['original_duration']:.1f} s "
            f"({result['removed_share']:.0%}), {result['render']['mode']} render"
        )
    if command == "sync":
        return (
            f"offset {result['offset_seconds'] * 1000:+.1f} ms, {result['match']}, "
            f"{result['agreeing_windows']} of {result['checked_windows']} checks along the overlap agree, "
            f"drift {result['drift_ppm']:+.1f} ppm"
        )
    if command == "export":
        clips, markers = result["clips"], result["markers"]
        return f"{result['format']}: {clips} clips, {result['duration']:.2f} s, {markers} pause markers"
    return f"{result['segments']} segments, {result['words']} words, language {result['language']}"


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    progress = ProgressBar()
    try:
        result = run(args, progress)
    except UnfitOutput as error:  # a usage error, like argparse's own
        progress.close()
        print(f"{CLI_ERROR}{error}", file=sys.stderr)
        return 2
    except MediaError as error:
        progress.close()
        print(f"{CLI_ERROR}{error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        progress.close()
        print(f"{CLI_ERROR}interrupted", file=sys.stderr)
        return 130
    progress.close()
    if getattr(args, "json", None):
        args.json.write_text(json.dumps(result, indent=2))
    print(summary(args.command, result))
    if result.get("dropped"):
        print(f"not kept: {'; '.join(result['dropped'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
