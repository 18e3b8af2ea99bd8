"""Which extension a stored file gets and which media type it is served with: never what the client chose.

An original is stored under the extension of the container the probe found, whatever its name was
on the client's disk, and the outputs take theirs from it. A file is served inline only with a
type from INLINE_TYPES; anything else goes out as application/octet-stream, as an attachment, so
no upload can become a page (HTML, SVG, script) on this site's origin.
"""

from pathlib import PurePath

# The container as jobs.probe names it (one of FFmpeg's demuxer names) -> the stored extension.
CONTAINER_EXTENSIONS = {
    "mov": ".mov",
    "mp4": ".mp4",
    "m4a": ".m4a",
    "3gp": ".3gp",
    "3g2": ".3g2",
    "matroska": ".mkv",
    "webm": ".webm",
    "avi": ".avi",
    "mpegts": ".ts",
    "mpeg": ".mpg",
    "ogg": ".ogg",
    "wav": ".wav",
    "mp3": ".mp3",
    "flac": ".flac",
    "aac": ".aac",
    "aiff": ".aiff",
}
# Any other container the probe accepts: Matroska's extensions, as it can hold any codec, so the
# jobs (which give their outputs the original's extension) can still write theirs.
OTHER_VIDEO, OTHER_AUDIO = ".mkv", ".mka"

INLINE_TYPES = {
    ".mp4": "video/mp4",
    ".mov": "video/quicktime",
    ".m4a": "audio/mp4",
    ".3gp": "video/3gpp",
    ".3g2": "video/3gpp2",
    ".mkv": "video/x-matroska",
    ".mka": "audio/x-matroska",
    ".webm": "video/webm",
    ".avi": "video/x-msvideo",
    ".ts": "video/mp2t",
    ".mpg": "video/mpeg",
    ".ogg": "audio/ogg",
    ".wav": "audio/wav",
    ".mp3": "audio/mpeg",
    ".flac": "audio/flac",
    ".aac": "audio/aac",
    ".aiff": "audio/aiff",
    # Posters and waveforms.
    ".jpg": "image/jpeg",
    ".png": "image/png",
    # Subtitles for the players; transcripts and cut lists to read in the browser (werkzeug adds
    # the UTF-8 charset to text types).
    ".vtt": "text/vtt",
    ".srt": "text/plain",
    ".txt": "text/plain",
    ".json": "application/json",
}
ATTACHMENT_TYPE = "application/octet-stream"


def stored_extension(container: str, kind: str) -> str:
    """The extension an upload is stored under, from its probed container and kind (video or audio)."""
    return CONTAINER_EXTENSIONS.get(container) or (OTHER_VIDEO if kind == "video" else OTHER_AUDIO)


def served_type(name: str) -> tuple[str, bool]:
    """The media type to serve a stored file with, and whether it may be shown inline."""
    media_type = INLINE_TYPES.get(PurePath(name).suffix.lower())
    return (media_type, True) if media_type else (ATTACHMENT_TYPE, False)
