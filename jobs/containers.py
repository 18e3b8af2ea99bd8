"""Which codecs each output container gets, and a clear refusal for an output it cannot hold.

One table serves every place that writes a result (silence removal, sync, the command line and
the web jobs), so no job hands a container a codec it cannot carry (AAC into an MP3 file, H.264
into WebM).
"""

from dataclasses import dataclass
from pathlib import Path

from jobs.errors import MediaError

ANY = None  # a container that carries every picture codec as it is (Matroska)


@dataclass(frozen=True)
class Container:
    """What goes into a file of one extension."""

    video: str | None  # codec of a picture encoded afresh; None: the container holds sound only
    audio: str  # codec of sound encoded afresh
    # Text subtitle codecs it holds, the first one being what other text subtitles become.
    subtitles: tuple[str, ...] = ()
    # Picture codecs it carries as they are (sync copies the picture); ANY for every one.
    copies_video: frozenset[str] | None = frozenset()
    # Sound codecs an audio-only result keeps from its source rather than becoming `audio`.
    keeps_audio: frozenset[str] = frozenset()
    one_sound_track: bool = False  # its muxer takes a single sound stream


MP4_VIDEO = frozenset({"h264", "hevc", "av1", "vp9", "mpeg4", "mpeg2video", "mjpeg"})
MPEG4_PART2 = frozenset({"h264", "mpeg4"})  # what the iPod (.m4v) and 3GPP muxers accept
MP4 = Container("h264", "aac", ("mov_text",), MP4_VIDEO)
PCM_LE = frozenset({"pcm_s16le", "pcm_s24le", "pcm_s32le", "pcm_f32le", "pcm_u8"})
PCM_BE = frozenset({"pcm_s16be", "pcm_s24be", "pcm_s32be"})

CONTAINERS = {
    ".mp4": MP4,
    ".m4v": Container("h264", "aac", ("mov_text",), MPEG4_PART2),
    ".mov": Container("h264", "aac", ("mov_text",), MP4_VIDEO | {"prores"}),
    ".3gp": Container("h264", "aac", ("mov_text",), MPEG4_PART2),
    ".3g2": Container("h264", "aac", ("mov_text",), MPEG4_PART2),
    ".mkv": Container("h264", "aac", ("subrip", "ass", "webvtt"), ANY),
    ".ts": Container("h264", "aac", (), frozenset({"h264", "hevc", "mpeg2video", "mpeg4"})),
    ".webm": Container("vp9", "opus", ("webvtt",), frozenset({"vp8", "vp9", "av1"})),
    ".m4a": Container(None, "aac"),
    ".mka": Container(None, "aac", keeps_audio=frozenset({"mp3", "flac", "vorbis", "opus"}) | PCM_LE),
    ".mp3": Container(None, "mp3", one_sound_track=True),
    ".wav": Container(None, "pcm_s16le", keeps_audio=PCM_LE, one_sound_track=True),
    ".aiff": Container(None, "pcm_s16be", keeps_audio=PCM_BE, one_sound_track=True),
    ".flac": Container(None, "flac", one_sound_track=True),
    ".ogg": Container(None, "vorbis", keeps_audio=frozenset({"opus", "flac"})),
    ".opus": Container(None, "opus"),
}
# Not .aac: raw ADTS states no length, so players (and FFmpeg) guess it from the first frames' bit
# rate: a 48 s sync result whose first 12 s are silent read as 1450 s. .m4a holds the same sound.
VIDEO_EXTENSIONS = [ext for ext, container in CONTAINERS.items() if container.video]
AUDIO_EXTENSIONS = [ext for ext, container in CONTAINERS.items() if not container.video]
# The MP4 family wants its index first, so a browser can play while it downloads.
MP4_FAMILY = {".mp4", ".m4v", ".mov", ".3gp", ".3g2", ".m4a"}

VIDEO_ENCODERS = {
    # Quick, good-looking, and plays in every browser.
    "h264": ("-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p"),
    # Constant quality; "good" at speed 5 is several times quicker than libvpx's default.
    "vp9": (
        *("-c:v", "libvpx-vp9", "-deadline", "good", "-cpu-used", "5", "-row-mt", "1"),
        *("-crf", "32", "-b:v", "0", "-pix_fmt", "yuv420p"),
    ),
}
AUDIO_ENCODERS = {
    # FFmpeg's default AAC search (twoloop) took 3.5 s of CPU for 2 minutes of a talk, a sixth of a
    # whole smart render; "fast" took 0.56 s at 52 dB SNR (twoloop: 61.5 dB; twoloop at 128k: 47 dB).
    "aac": ("-c:a", "aac", "-aac_coder", "fast", "-b:a", "192k"),
    "mp3": ("-c:a", "libmp3lame", "-q:a", "2"),
    "flac": ("-c:a", "flac"),
    "vorbis": ("-c:a", "libvorbis", "-q:a", "5"),
    "opus": ("-c:a", "libopus", "-b:a", "128k"),
}

UNKNOWN = "Cutroom cannot write a {extension} file. Name the output with one of: {choices}."
SOUND_ONLY = (
    "A {extension} file holds sound only, and this recording has a picture. "
    "Name the output with one of: {choices}."
)
ONE_TRACK = (
    "A {extension} file holds one sound track, and keeping the camera sound needs two. "
    "Name the output with one of: {choices}."
)
PICTURE_NOT_HELD = (
    "A {extension} file cannot carry this recording's {codec} picture, which is copied as it is. "
    "Name the output with one of: {choices}."
)


class UnfitOutput(MediaError):
    """The output's extension cannot hold what would be written into it: refused before any work."""


def output_container(
    path: str | Path, video_codec: str | None, *, copies_video: bool = False, sound_tracks: int = 1
) -> Container:
    """The Container for writing `path` from a source whose picture is `video_codec` (None: sound only).

    With `copies_video` the picture goes in as it is (sync), so the container must carry that codec;
    otherwise it is encoded afresh into the container's own. Raises UnfitOutput naming the
    extensions that would work.
    """
    extension = Path(path).suffix.lower() or "(no extension)"
    container = CONTAINERS.get(extension)
    if video_codec is None:
        if container is None:
            raise UnfitOutput(UNKNOWN.format(extension=extension, choices=_listed(CONTAINERS)))
        if container.one_sound_track and sound_tracks > 1:
            several = [ext for ext, other in CONTAINERS.items() if not other.one_sound_track]
            raise UnfitOutput(ONE_TRACK.format(extension=extension, choices=_listed(several)))
        return container
    if container is None or container.video is None:
        message = UNKNOWN if container is None else SOUND_ONLY
        raise UnfitOutput(
            message.format(extension=extension, choices=_listed(_holding(video_codec, copies_video)))
        )
    if copies_video and not _carries(container, video_codec):
        choices = _listed(_holding(video_codec, copies_video))
        raise UnfitOutput(PICTURE_NOT_HELD.format(extension=extension, codec=video_codec, choices=choices))
    return container


def job_extension(source: str | Path, video_codec: str | None, *, copies_video: bool = False) -> str:
    """The extension a web job gives its result: the source's own where it fits, else one that holds it.

    Matroska carries any picture as it is; a picture encoded afresh or sound alone goes into the
    MP4 family, which every browser plays.
    """
    try:
        output_container(source, video_codec, copies_video=copies_video)
    except UnfitOutput:
        if video_codec is None:
            return ".m4a"
        return ".mkv" if copies_video else ".mp4"
    return Path(source).suffix.lower()


def audio_encoder(container: Container, source_codec: str | None = None) -> tuple[str, ...]:
    """ffmpeg arguments that encode sound for `container`, keeping the source's codec where it may."""
    codec = source_codec if source_codec in container.keeps_audio else container.audio
    return AUDIO_ENCODERS.get(codec, ("-c:a", codec))  # PCM needs no settings


def video_encoder(container: Container) -> tuple[str, ...]:
    return VIDEO_ENCODERS[container.video]


def muxer_flags(path: str | Path) -> tuple[str, ...]:
    return ("-movflags", "+faststart") if Path(path).suffix.lower() in MP4_FAMILY else ()


def _carries(container: Container, video_codec: str) -> bool:
    return container.copies_video is ANY or video_codec in container.copies_video


def _holding(video_codec: str, copies_video: bool) -> list[str]:
    return [
        ext
        for ext, container in CONTAINERS.items()
        if container.video and (not copies_video or _carries(container, video_codec))
    ]


def _listed(extensions) -> str:
    return ", ".join(extensions)
