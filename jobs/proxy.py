"""Browser previews: which recordings web browsers play as they are, and a light copy of the rest.

Browsers decode few codecs, and only in some containers. A file outside the table below (HEVC,
ProRes, VP9 in MP4, ALAC, PCM float, anything in MKV, AVI or MPEG-TS …) gets a proxy: an MP4 with
H.264 at most 720 lines high and AAC sound, or an AAC .m4a for audio, which the players use while
downloads still give the real file. Where in doubt (a codec one major browser lacks), no.
"""

import logging
from pathlib import Path

from jobs.ffmpeg import FFmpegError, run_ffmpeg
from jobs.mediainfo import MediaInfo
from jobs.probe import probe
from jobs.progress import Progress, ignore

# Container (as jobs.probe names it) -> (video codecs, audio codecs) that Chrome, Firefox and
# Safari all play in it. Theora is gone from Chrome; Matroska, MOV's PCM and MP4's FLAC are not
# played everywhere.
MP4_VIDEO, MP4_AUDIO = {"h264", "av1"}, {"aac", "mp3", "opus"}
BROWSER_PLAYABLE = {
    "mp4": (MP4_VIDEO, MP4_AUDIO),
    "m4a": (set(), MP4_AUDIO),
    "mov": (MP4_VIDEO, MP4_AUDIO),
    "webm": ({"vp8", "vp9", "av1"}, {"vorbis", "opus"}),
    "ogg": (set(), {"vorbis", "opus", "flac"}),
    "mp3": (set(), {"mp3"}),
    "aac": (set(), {"aac"}),
    "flac": (set(), {"flac"}),
    "wav": (set(), {"pcm_s16le", "pcm_u8"}),
}
# Browsers decode 8-bit 4:2:0 only (10-bit or 4:2:2 H.264 stays black in Chrome and Firefox).
PLAYABLE_PIXELS = {"yuv420p", "yuvj420p"}

log = logging.getLogger(__name__)

MAKING_PROXY = "Making a browser preview"

PROXY_HEIGHT = 720
# Light enough to stream over a slow line, good enough to judge a cut: at most 2 Mbit/s.
PROXY_VIDEO = ("-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-maxrate", "2M", "-bufsize", "4M")
PROXY_AUDIO = ("-c:a", "aac", "-b:a", "128k", "-ac", "2")
# The most a proxy holds a second: 2 Mbit/s of picture (the encoder's cap, with slack for its
# buffer) and the sound, copied (AAC or MP3, at most 320 kbit/s) or encoded at 128 kbit/s.
PROXY_VIDEO_BYTES_PER_SECOND = 2_200_000 // 8
PROXY_AUDIO_BYTES_PER_SECOND = 320_000 // 8


def browser_plays(info: MediaInfo) -> bool:
    """Whether every major browser plays this recording, picture and sound, as it is."""
    video_codecs, audio_codecs = BROWSER_PLAYABLE.get(info.container, (set(), set()))
    if info.video and (info.video.codec not in video_codecs or info.video.pix_fmt not in PLAYABLE_PIXELS):
        return False
    return info.audio is None or info.audio.codec in audio_codecs


def proxy_size_bound(info: MediaInfo) -> int:
    """At most how many bytes the proxy of a recording like `info` takes; 0 when it needs none."""
    if browser_plays(info):
        return 0
    if info.video and _copies_video(info):
        return info.size  # the picture is copied as it is
    rate = (PROXY_VIDEO_BYTES_PER_SECOND if info.video else 0) + PROXY_AUDIO_BYTES_PER_SECOND
    return int(info.duration * rate)


def _copies_video(info: MediaInfo) -> bool:
    """Whether the proxy can take the picture as it is: browsers decode it once it is in MP4."""
    return info.video.codec in BROWSER_PLAYABLE["mp4"][0] and info.video.pix_fmt in PLAYABLE_PIXELS


def proxy_name(name: str, info: MediaInfo) -> str:
    """The proxy's file name beside `name`: cut.mkv -> cut.preview.mp4, a.flac -> a.preview.m4a."""
    return f"{Path(name).stem}.preview" + (".mp4" if info.video else ".m4a")


def make_proxy(
    src: str | Path,
    dest: str | Path,
    info: MediaInfo,
    on_progress: Progress = ignore,
    copy: bool = True,
) -> None:
    """Write a browser-playable MP4 (or M4A) copy of `src` to `dest`, reporting the percent done as
    MAKING_PROXY.

    With `copy`, streams browsers already decode in MP4 are copied (seconds of work, no loss);
    the rest is encoded.
    """
    audio_codecs = BROWSER_PLAYABLE["mp4"][1]
    args = ["-i", str(src), "-map_metadata", "-1", "-sn", "-dn"]
    if info.video:
        args += ["-map", "0:V:0"]
        if copy and _copies_video(info):
            args += ["-c:v", "copy"]
        else:
            # Square pixels first; then the shorter side at most PROXY_HEIGHT (never enlarged), so
            # a phone's upright video gets 720 × 1280, with even sides as 4:2:0 needs.
            fit = f"min({PROXY_HEIGHT},trunc(ih/2)*2)", f"min({PROXY_HEIGHT},trunc(iw/2)*2)"
            scale = (
                "scale=trunc(iw*sar/2)*2:ih,setsar=1,"
                f"scale='if(gte(iw,ih),-2,{fit[1]})':'if(gte(iw,ih),{fit[0]},-2)'"
            )
            args += ["-vf", scale, *PROXY_VIDEO, "-pix_fmt", "yuv420p"]
    if info.audio:
        args += ["-map", "0:a:0"]
        args += ["-c:a", "copy"] if copy and info.audio.codec in audio_codecs else list(PROXY_AUDIO)
    args += ["-movflags", "+faststart", "-f", "mp4", "-y", str(dest)]
    run_ffmpeg(args, duration=info.duration, on_progress=on_progress, stage=MAKING_PROXY)


def proxy_if_needed(
    src: str | Path,
    out_dir: str | Path,
    info: MediaInfo | None = None,
    on_progress: Progress = ignore,
) -> str | None:
    """Make the proxy of `src` in `out_dir` when browsers cannot play it; return its name.

    None when the browser plays `src` itself, or when no proxy could be made: the file is still
    good to download and process, and the player says that it cannot play it.
    """
    src = Path(src)
    info = info or probe(src)
    if browser_plays(info):
        return None
    dest = Path(out_dir) / proxy_name(src.name, info)
    try:
        try:
            make_proxy(src, dest, info, on_progress)
        except FFmpegError:
            # A stream copied out of AVI or MPEG-TS can lack the timestamps MP4 needs: encode it all.
            make_proxy(src, dest, info, on_progress, copy=False)
    except FFmpegError as error:
        log.warning("no browser preview of %s: %s", src, error.detail or error)
        dest.unlink(missing_ok=True)
        return None
    return dest.name
