"""Generate small test media with the ffmpeg Cutroom itself runs, for every test suite."""

import subprocess
from pathlib import Path
from typing import IO

from jobs.ffmpeg import ffmpeg_exe

# Audio codec for each container, so callers only choose a file name.
AUDIO_CODECS = {
    ".mp3": "libmp3lame",
    ".m4a": "aac",
    ".aac": "aac",
    ".mp4": "aac",
    ".mov": "aac",
    ".mkv": "aac",
    ".wav": "pcm_s16le",
    ".flac": "flac",
    ".ogg": "libvorbis",
    ".opus": "libopus",
    ".webm": "libopus",
}
# The quickest settings of each encoder: test media only has to be decodable.
VIDEO_CODEC_OPTIONS = {
    "libx264": ("-preset", "ultrafast", "-pix_fmt", "yuv420p"),
    "libx265": ("-preset", "ultrafast", "-pix_fmt", "yuv420p"),
    "libvpx": ("-deadline", "realtime", "-cpu-used", "8"),
    "libvpx-vp9": ("-deadline", "realtime", "-cpu-used", "8", "-row-mt", "1"),
}
MP4_FAMILY = {".mp4", ".m4a", ".m4v", ".mov"}
COPY_CHUNK = 1024 * 1024
SUBTITLES = "1\n00:00:00,000 --> 00:00:02,000\nHello.\n\n2\n00:00:02,500 --> 00:00:04,000\nBye.\n"


def make_video(
    path: str | Path,
    seconds: float = 5.0,
    size: str = "320x240",
    fps: int = 25,
    audio: bool = True,
    codec: str = "libx264",
    faststart: bool = True,
) -> Path:
    """A test-pattern video with a tone whose loudness swells and fades."""
    path = Path(path)
    args = ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={fps}:duration={seconds}"]
    if audio:
        args += ["-f", "lavfi", "-i", _tone(seconds, 48000)]
    # A keyframe every second keeps seeking and cutting tests quick.
    args += ["-c:v", codec, *VIDEO_CODEC_OPTIONS.get(codec, ()), "-g", str(fps)]
    if audio:
        args += ["-c:a", AUDIO_CODECS.get(path.suffix.lower(), "aac")]
    if faststart and path.suffix.lower() in MP4_FAMILY:
        args += ["-movflags", "+faststart"]
    _ffmpeg(*args, str(path))
    return path


def make_audio(
    path: str | Path,
    seconds: float = 5.0,
    codec: str | None = None,
    sample_rate: int = 44100,
    cover_art: bool = False,
) -> Path:
    """A mono tone with a swelling loudness; the codec follows the extension unless given.

    With `cover_art` a small picture is attached the way music files carry album art.
    """
    path = Path(path)
    args = ["-f", "lavfi", "-i", _tone(seconds, sample_rate)]
    if cover_art:
        args += ["-f", "lavfi", "-i", "color=c=orange:s=64x64:d=0.04"]
        args += ["-map", "0:a", "-map", "1:v", "-c:v", "mjpeg", "-disposition:v:0", "attached_pic"]
    args += ["-c:a", codec or AUDIO_CODECS[path.suffix.lower()]]
    _ffmpeg(*args, str(path))
    return path


def make_live_webm(path: str | Path, seconds: float = 3.0) -> Path:
    """A WebM written as a stream, like a browser's MediaRecorder: it never states its length."""
    path = Path(path)
    with path.open("wb") as target:
        _ffmpeg(
            *("-f", "lavfi", "-i", f"testsrc2=size=160x120:rate=25:duration={seconds}"),
            *("-f", "lavfi", "-i", _tone(seconds, 48000)),
            *("-c:v", "libvpx", *VIDEO_CODEC_OPTIONS["libvpx"], "-c:a", "libopus"),
            *("-f", "webm", "pipe:1"),
            stdout=target,
        )
    return path


def make_subtitles_only(path: str | Path) -> Path:
    """A Matroska file holding a subtitle track and no audio or video at all."""
    path = Path(path)
    srt = path.with_suffix(".srt")
    srt.write_text(SUBTITLES)
    try:
        _ffmpeg("-i", str(srt), "-c:s", "srt", str(path))
    finally:
        srt.unlink()
    return path


def make_text_file(path: str | Path) -> Path:
    """Plain text, for checking that a file named like a video but not one is refused."""
    path = Path(path)
    path.write_text("These are meeting notes, not a recording.\n" * 20)
    return path


def make_truncated(src: str | Path, dest: str | Path, keep_fraction: float = 0.5) -> Path:
    """Copy the first `keep_fraction` of `src` to `dest`, like an upload cut short."""
    dest = Path(dest)
    remaining = int(Path(src).stat().st_size * keep_fraction)
    with open(src, "rb") as source, dest.open("wb") as target:
        while remaining > 0:
            chunk = source.read(min(COPY_CHUNK, remaining))
            if not chunk:
                break
            target.write(chunk)
            remaining -= len(chunk)
    return dest


def _tone(seconds: float, sample_rate: int) -> str:
    """A lavfi source: a 220 Hz tone whose loudness swells and fades every few seconds."""
    return (
        f"sine=frequency=220:sample_rate={sample_rate}:duration={seconds},"
        "volume='6*(0.15+0.85*abs(sin(PI*t/3)))':eval=frame"
    )


def _ffmpeg(*args: str, stdout: IO[bytes] | None = None) -> None:
    subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args],
        stdout=stdout,
        check=True,
    )
