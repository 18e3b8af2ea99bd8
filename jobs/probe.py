"""Find out with PyAV what a media file holds (a MediaInfo) and reject files Cutroom cannot use."""

from pathlib import Path

import av

from jobs.errors import MediaError
from jobs.mediainfo import DAMAGED, NOT_MEDIA, AudioStream, MediaInfo, VideoStream, unreadable

NOT_FOUND = "The file could not be found. Please upload it again."
EMPTY = (
    "The file is empty (0 bytes). The upload or copy probably failed; "
    "check the file on your side and upload it again."
)
MIN_DURATION = 0.01  # seconds; anything shorter is no recording

STILL_IMAGE = "This is a still image, not a recording. Upload a video or audio file."
NO_STREAMS = (
    "The file has no audio or video in it (it holds only {found}), so there is nothing "
    "to process. Upload a recording that contains sound or picture."
)
UNKNOWN_LENGTH = (
    "Cutroom could not tell how long this recording is, so it cannot process it. "
    "Save or export it again (for example as MP4 or WAV) and upload the new file."
)

# How far before its stated end the main stream is sampled to prove the file is complete.
TAIL_SECONDS = 1.0
# The last packet must end at least this close to the stated end.
END_TOLERANCE = 0.25
# How much of the end of a file that does not state its length is read to measure it.
MEASURE_BYTES = 1024 * 1024
# How closely size, bit rate and length agree when FFmpeg derived the length from the other two.
ESTIMATE_SLACK = 0.02


def probe(path: str | Path) -> MediaInfo:
    """Describe the file at `path`, or raise MediaError saying why Cutroom cannot use it."""
    path = Path(path)
    size = _file_size(path)
    container = _open(path)
    try:
        return _inspect(container, path, size)
    except (av.FFmpegError, OverflowError) as exc:  # overflow: absurd timestamps in a bad file
        raise MediaError(DAMAGED) from exc
    finally:
        container.close()


def _file_size(path: Path) -> int:
    if not path.is_file():
        raise MediaError(NOT_FOUND)
    size = path.stat().st_size
    if size == 0:
        raise MediaError(EMPTY)
    return size


def _open(path: Path) -> av.container.InputContainer:
    try:
        return av.open(str(path), metadata_errors="replace")
    except av.FFmpegError as exc:
        raise MediaError(unreadable(path)) from exc


# libav's demuxers that draw text files (plain text, ANSI art) as pictures of their characters.
TEXT_AS_PICTURES = {"tty", "bin", "xbin", "adf", "idf"}


def _inspect(container: av.container.InputContainer, path: Path, size: int) -> MediaInfo:
    if container.format.name in TEXT_AS_PICTURES:
        raise MediaError(NOT_MEDIA)
    video = _main_video(container)
    audio = container.streams.audio[0] if container.streams.audio else None
    if video is None and audio is None:
        raise MediaError(NO_STREAMS.format(found=_other_streams(container)))
    if _is_still_image(container):
        raise MediaError(STILL_IMAGE)
    streams = [stream for stream in (video, audio) if stream]
    if container.duration and container.duration > 0:
        duration = container.duration / av.time_base
        if not _length_is_estimate(container, streams[0], duration, size):
            _check_complete(container, streams)
    else:
        duration = _measured_duration(container, streams, size)
    no_picture = video is not None and not (video.codec_context.width and video.codec_context.height)
    if no_picture or duration < MIN_DURATION:
        # Random bytes can pass for a raw stream (h263, say) with no picture size and no length.
        raise MediaError(unreadable(path))
    return MediaInfo(
        duration=duration,
        container=_container_name(container, path),
        size=size,
        video=_describe_video(video) if video else None,
        audio=_describe_audio(audio) if audio else None,
    )


def _main_video(container: av.container.InputContainer) -> av.VideoStream | None:
    """The first real video stream: cover art in an MP3 or M4A is a picture, not video."""
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    return None


def _other_streams(container: av.container.InputContainer) -> str:
    kinds = {
        "cover picture" if stream.type == "video" else f"{stream.type} data" for stream in container.streams
    }
    return " and ".join(sorted(kinds)) or "no streams at all"


def _is_still_image(container: av.container.InputContainer) -> bool:
    # FFmpeg reads single pictures with its image2 demuxer or one of the *_pipe ones.
    name = container.format.name
    return name == "image2" or name.endswith("_pipe")


def _length_is_estimate(
    container: av.container.InputContainer, stream: av.stream.Stream, duration: float, size: int
) -> bool:
    """Whether FFmpeg worked the length out from the file size and the bit rate.

    Raw streams such as MP3 without a length header or ADTS AAC do not state their length;
    a guess from the first frames' bit rate can overshoot the real end, and seeking there
    would call a complete file cut short. Such a file is as big as its length implies.
    """
    if not container.format.flags & av.format.Flags.generic_index.value:
        return False
    bit_rate = stream.codec_context.bit_rate
    return bool(bit_rate) and abs(bit_rate * duration / 8 - size) <= ESTIMATE_SLACK * size


def _check_complete(container: av.container.InputContainer, streams: list[av.stream.Stream]) -> None:
    """Raise unless the last second of the recording is really in the file.

    A file cut short can still carry a complete index (an MP4 with its moov atom at the
    front) and so claim its full length. Seeking near the stated end and reading the packets
    there shows what is actually present; decoding them until a frame comes out raises if
    they are garbage. Only the last second or so is read, whatever the length of the file.
    """
    main = streams[0]
    end = _stated_end(container, streams)
    start = float(main.start_time * main.time_base) if main.start_time else 0.0
    target = max(start, end - TAIL_SECONDS)
    container.seek(int(target / main.time_base), stream=main, backward=True, any_frame=False)
    frame_seen = False
    reached = None
    # Audio and video may end at different times; the file is whole if either reaches the end.
    for packet in container.demux(*streams):
        if packet.pts is None:
            continue  # the empty packet that marks the end of the file
        if packet.stream is main and not frame_seen:
            frame_seen = bool(packet.decode())
        reached = max(reached or 0.0, _packet_end(packet))
    if reached is None or reached < end - END_TOLERANCE:
        raise MediaError(DAMAGED)


def _stated_end(container: av.container.InputContainer, streams: list[av.stream.Stream]) -> float:
    """Where the file says its audio and video end, in seconds.

    The container's length can be longer: it also covers subtitles that outlast the picture.
    """
    ends = [end for end in map(_stream_end, streams) if end is not None]
    if ends:
        return max(ends)
    return ((container.start_time or 0) + container.duration) / av.time_base


def _stream_end(stream: av.stream.Stream) -> float | None:
    start = float(stream.start_time * stream.time_base) if stream.start_time else 0.0
    length = stored_length(stream)
    return None if length is None else start + length


def stored_length(stream: av.stream.Stream) -> float | None:
    """How long a stream lasts as its container states it, in seconds; None if it does not say."""
    if stream.duration:
        return float(stream.duration * stream.time_base)
    # Matroska keeps each track's length in a tag instead, as "HH:MM:SS.nnnnnnnnn".
    hours, _, rest = stream.metadata.get("DURATION", "").partition(":")
    minutes, _, seconds = rest.partition(":")
    try:
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    except ValueError:
        return None


def _measured_duration(
    container: av.container.InputContainer, streams: list[av.stream.Stream], size: int
) -> float:
    """The length of a file that does not state it, from the timestamps at its very end.

    Live recordings, such as the WebM a browser's MediaRecorder makes, never go back to
    write their length. Only the last MEASURE_BYTES are read.
    """
    container.seek(max(0, size - MEASURE_BYTES), unsupported_byte_offset=True)
    ends = [_packet_end(packet) for packet in container.demux(*streams) if packet.pts is not None]
    start = (container.start_time or 0) / av.time_base
    if not ends or max(ends) <= start:
        raise MediaError(UNKNOWN_LENGTH)
    return max(ends) - start


def _packet_end(packet: av.Packet) -> float:
    return float((packet.pts + (packet.duration or 0)) * packet.time_base)


def _container_name(container: av.container.InputContainer, path: Path) -> str:
    """The container's short name, e.g. "mp4" rather than FFmpeg's "mov,mp4,m4a,3gp,3g2,mj2"."""
    names = container.format.name.split(",")
    extension = path.suffix.lower().lstrip(".")
    return extension if extension in names else names[0]


def _describe_video(stream: av.VideoStream) -> VideoStream:
    context = stream.codec_context
    rate = stream.average_rate or stream.guessed_rate
    return VideoStream(
        codec=context.codec.canonical_name,
        width=context.width,
        height=context.height,
        fps=round(float(rate), 3) if rate else None,
        pix_fmt=context.pix_fmt,
    )


def _describe_audio(stream: av.AudioStream) -> AudioStream:
    context = stream.codec_context
    return AudioStream(
        codec=context.codec.canonical_name,
        sample_rate=context.sample_rate,
        channels=context.channels,
    )
