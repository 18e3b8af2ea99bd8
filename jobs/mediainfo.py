"""What a media file holds (MediaInfo), and learning it in a child process: no PyAV in this module.

Jobs pass a MediaInfo along instead of probing a file again, and the web stores it as a dict
(`Item.info`). The web process needs it without loading PyAV, so the PyAV reading lives in
`jobs.probe` and this module only describes its result and runs it in a child.
"""

import json
import logging
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from jobs.errors import CLI_ERROR, MediaError

NOT_MEDIA = (
    "This file is not a video or audio recording that Cutroom can read. Upload a video "
    "(for example MP4, MOV, MKV or WebM) or an audio file (for example MP3, WAV or M4A)."
)
DAMAGED = (
    "The file is incomplete or damaged, so it cannot be read to the end. This usually "
    "means the recording or the copy was cut short; upload a complete copy of the file."
)
# How files of common container kinds begin. One that starts like this but cannot be opened
# is broken rather than of the wrong kind (an MP4 cut short before its index, for example).
MEDIA_SIGNATURES = (
    (4, b"ftyp"),
    (4, b"moov"),
    (4, b"mdat"),
    (4, b"wide"),
    (4, b"free"),
    (0, b"\x1a\x45\xdf\xa3"),  # Matroska / WebM
    (0, b"RIFF"),
    (0, b"OggS"),
    (0, b"fLaC"),
    (0, b"ID3"),
)
# A probe reads the headers and about the last second of the file: well under a second. A file
# that keeps libav busy longer is given up on long before the web server's own request timeout.
CHILD_PROBE_SECONDS = 30.0
# The folder `python -m jobs` runs from, whatever the caller's working directory.
ENGINE_ROOT = Path(__file__).resolve().parent.parent

log = logging.getLogger(__name__)


@dataclass
class VideoStream:
    codec: str
    width: int
    height: int
    fps: float | None
    pix_fmt: str | None


@dataclass
class AudioStream:
    codec: str
    sample_rate: int
    channels: int


@dataclass
class MediaInfo:
    duration: float
    container: str
    size: int
    video: VideoStream | None
    audio: AudioStream | None

    @property
    def kind(self) -> str:
        return "video" if self.video else "audio"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "MediaInfo":
        video, audio = data.get("video"), data.get("audio")
        return cls(
            duration=data["duration"],
            container=data["container"],
            size=data["size"],
            video=VideoStream(**video) if video else None,
            audio=AudioStream(**audio) if audio else None,
        )


def unreadable(path: Path) -> str:
    """Why a file that libav cannot read is refused: damaged if it starts like media, else not media."""
    with path.open("rb") as file:
        head = file.read(16)
    looks_like_media = any(head[offset : offset + len(magic)] == magic for offset, magic in MEDIA_SIGNATURES)
    return DAMAGED if looks_like_media else NOT_MEDIA


def probe_in_child(path: str | Path, timeout: float = CHILD_PROBE_SECONDS) -> MediaInfo:
    """`jobs.probe.probe(path)`, run by `python -m jobs probe` in a child process.

    For the web process: libav parses the uploaded bytes in C, and a hostile or broken file that
    crashes it (a segfault) or makes it hang would take the web worker down with it. In a child,
    a crash or a hang (cut off after `timeout` seconds) ends only the child, and the file is
    refused like any other unreadable one. Raises MediaError with the same text as `probe`.
    """
    path = Path(path).resolve()
    command = [sys.executable, "-m", "jobs", "probe", str(path)]
    try:
        done = subprocess.run(
            command,
            cwd=ENGINE_ROOT,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:  # run() has killed the child
        log.warning("probing %s took over %g s; refused as unreadable", path, timeout)
        raise MediaError(unreadable(path)) from None
    if done.returncode == 0:
        return MediaInfo.from_dict(json.loads(done.stdout))
    last_line = done.stderr.strip().rpartition("\n")[2]
    if done.returncode == 1 and last_line.startswith(CLI_ERROR):
        raise MediaError(last_line.removeprefix(CLI_ERROR))
    # A crash, or an exception the probe does not expect: the reader could not make sense of it.
    log.warning("probing %s ended with exit status %s:\n%s", path, done.returncode, done.stderr[-4000:])
    raise MediaError(unreadable(path))
