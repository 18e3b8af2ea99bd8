"""Render a cut list: copy whole GOPs where the codec allows, re-encode only the clip edges, else all.

Video is cut at frame boundaries and the sound at the very same instants, re-encoded whole
from the keep list with short fades at every join. For H.264 the GOPs that lie wholly inside
a kept clip are stream-copied and only the partial GOPs at the clip edges are re-encoded with
the source's profile, level, size and frame rate; each re-encoded piece carries its own
SPS/PPS and each copied run gets the source's back, so a decoder switches cleanly. Every smart
render is checked afterwards (index before media data, track lengths, and a decode of each
re-encoded piece and of the first GOP after every join); any fault falls back to a plain re-encode.
"""

import contextlib
import logging
import os
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from jobs.containers import Container, audio_encoder, muxer_flags, output_container, video_encoder
from jobs.cutlist import CutList
from jobs.errors import MediaError
from jobs.ffmpeg import FROM_TIME_ZERO, decode_pcm, ffmpeg_error, ffmpeg_exe, popen, run_ffmpeg
from jobs.probe import MediaInfo, probe, stored_length
from jobs.streams import Extras, SoundTrack, extra_streams, write_cut_subtitles

Progress = Callable[[float, str], None]
log = logging.getLogger(__name__)

FADE_SECONDS = 0.008  # long enough to hide a click, too short to hear
EDGE_PRESET = "veryfast"
EDGE_BITRATE_FACTOR = 1.2
# Copying a frame costs about this fraction of encoding one (auto-editor's estimate).
COPY_COST = 1 / 32
SMART_CONTAINERS = {"mp4", "mov", "m4v", "mkv", "matroska"}
X264_PROFILES = {"Baseline": "baseline", "Constrained Baseline": "baseline", "Main": "main", "High": "high"}


def render_cut(
    src: str | Path, dst: str | Path, cutlist: CutList, *, on_progress: Progress | None = None
) -> dict:
    """Write to `dst` the parts of `src` that `cutlist` keeps; return how the work was done.

    The result: {"mode": "smart"|"reencode"|"audio", "segments", "copied_seconds",
    "encoded_seconds", "dropped"}, and for a video "keep": the kept ranges as really cut, on whole
    frames. "dropped" describes the source's streams the result does not carry (see jobs.streams).
    `dst` appears only when complete; an extension that cannot hold the result is refused first.
    """
    src, dst = Path(src), Path(dst)
    report = monotonic(on_progress)
    info = probe(src)
    container = output_container(dst, info.video and info.video.codec)
    if not cutlist.keep:
        raise MediaError("The cut would leave nothing of this recording.")
    # Sound alone is written straight from one pipe: extra tracks and subtitles cannot join it.
    extras = extra_streams(
        src, container, keep_audio=info.video is not None, keep_subtitles=info.video is not None
    )
    temp = temp_beside(dst)
    try:
        with tempfile.TemporaryDirectory(prefix="cutroom-render-", dir=dst.parent) as work:
            if info.video is None:
                result = _render_audio_only(src, temp, info, container, cutlist, report)
            else:
                result = _render_video(src, temp, info, container, extras, cutlist, Path(work), report)
        os.replace(temp, dst)
    finally:
        temp.unlink(missing_ok=True)
    report(100.0, "Done")
    return {**result, "dropped": extras.dropped}


def monotonic(on_progress: Progress | None) -> Progress:
    """`on_progress`, but never moving backwards (a fallback starts its own count from zero)."""
    highest = [0.0]

    def report(percent: float, stage: str) -> None:
        highest[0] = max(highest[0], min(100.0, percent))
        if on_progress:
            on_progress(highest[0], stage)

    return report


def temp_beside(dst: Path) -> Path:
    """A hidden name in dst's folder with dst's extension, so ffmpeg picks the same format."""
    return dst.with_name(f".{dst.stem}.{uuid.uuid4().hex[:8]}.part{dst.suffix}")


# ---------------------------------------------------------------- sound


def write_cut_audio(
    src: Path,
    dst: Path,
    ranges: list[tuple[float, float]],
    rate: int,
    channels: int,
    encode: tuple[str, ...],
    on_fraction: Callable[[float], None] | None = None,
    stream: str = "a:0",
) -> int:
    """Encode the kept `ranges` (seconds) of src's sound (track `stream`) into `dst`, fading at each join.

    Sample-exact: each range is cut at round(t × rate). Sound missing at the end is
    filled with silence so the result is exactly as long as the ranges. Returns the sample count.
    """
    bounds = [(round(a * rate), round(b * rate)) for a, b in ranges]
    fade = max(1, round(FADE_SECONDS * rate))
    last = bounds[-1][1]
    command = [
        ffmpeg_exe(),
        *("-hide_banner", "-nostdin", "-loglevel", "error", "-y"),
        *("-f", "f32le", "-ar", str(rate), "-ac", str(channels), "-i", "pipe:0"),
        *encode,
        str(dst),
    ]
    written = 0
    with tempfile.TemporaryFile() as stderr:
        encoder = popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=stderr)
        try:
            chunks = decode_pcm(
                src, sample_rate=rate, channels=channels, stream=stream, filters=FROM_TIME_ZERO
            )
            with contextlib.closing(chunks), contextlib.suppress(BrokenPipeError):  # the encoder failed
                for piece, position in _kept_samples(chunks, bounds, fade):
                    encoder.stdin.write(piece.tobytes())
                    written += len(piece)
                    if on_fraction:
                        on_fraction(min(1.0, position / last))
                # Sound that ends early: silence, so sound and picture stay the same length.
                missing = sum(b - a for a, b in bounds) - written
                if missing > 0:
                    encoder.stdin.write(np.zeros((missing, channels), np.float32).tobytes())
                    written += missing
                encoder.stdin.close()
            returncode = encoder.wait()
        finally:
            if encoder.poll() is None:
                encoder.kill()
            encoder.wait()
            with contextlib.suppress(BrokenPipeError):
                encoder.stdin.close()
        if returncode != 0:
            raise ffmpeg_error(command, returncode, stderr)
    return written


def _kept_samples(
    chunks: Iterator[np.ndarray], bounds: list[tuple[int, int]], fade: int
) -> Iterator[tuple[np.ndarray, int]]:
    """The kept stretches of a stream of sample chunks, faded at the joins, with the read position."""
    position, index = 0, 0
    for chunk in chunks:
        end = position + len(chunk)
        while index < len(bounds) and bounds[index][0] < end:
            start, stop = bounds[index]
            lo, hi = max(start, position), min(stop, end)
            if hi > lo:
                piece = chunk[lo - position : hi - position]
                yield _faded(piece, lo - start, stop - start, fade, index, len(bounds)), hi
            if stop > end:
                break
            index += 1
        position = end
        if index >= len(bounds):
            return


def _faded(piece: np.ndarray, offset: int, length: int, fade: int, index: int, count: int) -> np.ndarray:
    """`piece` (starting `offset` samples into a kept range of `length`) with the join fades applied."""
    fade_in = index > 0 and offset < fade
    fade_out = index < count - 1 and offset + len(piece) > length - fade
    if not (fade_in or fade_out):
        return piece
    position = np.arange(offset, offset + len(piece), dtype=np.float32)
    gain = np.ones(len(piece), np.float32)
    if fade_in:
        gain = np.minimum(gain, (position + 0.5) / fade)
    if fade_out:
        gain = np.minimum(gain, (length - position - 0.5) / fade)
    return piece * np.clip(gain, 0.0, 1.0)[:, None]


def _render_audio_only(
    src: Path, temp: Path, info: MediaInfo, container: Container, cutlist: CutList, report: Progress
) -> dict:
    encode = (*audio_encoder(container, info.audio.codec), *muxer_flags(temp))
    report(0.0, f"Joining {len(cutlist.keep)} segments")
    write_cut_audio(
        src,
        temp,
        cutlist.keep,
        info.audio.sample_rate,
        max(1, info.audio.channels),
        (*encode, "-map_metadata", "-1", "-vn"),
        lambda f: report(99 * f, f"Joining {len(cutlist.keep)} segments"),
    )
    return _figures("audio", len(cutlist.keep), 0.0, cutlist.kept_duration)


# ---------------------------------------------------------------- picture


Window = tuple[int, int]  # output frames [start, stop)


@dataclass
class Piece:
    """Frames [start, stop) of the source, copied as packets or re-encoded."""

    start: int
    stop: int
    copy: bool


@dataclass
class SmartPlan:
    pieces: list[Piece] = field(default_factory=list)
    encode_frames: int = 0
    copy_frames: int = 0
    restarts: int = 0


@dataclass
class VideoIndex:
    """Every video packet of the source in decode order: where it shows, whether it starts a GOP."""

    time_base: Fraction
    frame_ticks: int
    first_pts: int
    shown: np.ndarray  # presentation frame number of each packet
    keyframes: np.ndarray  # presentation frame numbers of the GOP starts, ascending
    key_positions: np.ndarray  # where each GOP starts in decode order
    reorder: int  # how many frames the source's decode order runs ahead of its display order
    bit_rate: int


def _render_video(
    src: Path,
    temp: Path,
    info: MediaInfo,
    container: Container,
    extras: Extras,
    cutlist: CutList,
    work: Path,
    report: Progress,
) -> dict:
    with av.open(str(src)) as source:
        stream = source.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        length = float(stream.duration * stream.time_base) if stream.duration else info.duration
    if not rate:
        raise MediaError("Cutroom could not tell the frame rate of this video. Export it again and retry.")
    rate = Fraction(rate)
    # Copied GOPs are H.264: only a container whose picture is H.264 can take them.
    index = _index_video(src, info, rate, report) if container.video == "h264" else None
    frames = _frame_ranges(cutlist, rate, len(index.shown) if index else round(length * rate))
    plan = _plan_smart(frames, index) if index else None
    kept_frames = sum(b - a for a, b in frames)
    exact = CutList(cutlist.duration, [(float(a / rate), float(b / rate)) for a, b in frames])
    # Sound and subtitle tracks are cut in a thread while the picture is worked on.
    with ThreadPoolExecutor(max_workers=1) as pool:
        tracks = _cut_tracks(pool, src, container, extras, exact, work)
        fallback = result = None
        if plan and plan.copy_frames and _smart_work(plan, index) < kept_frames:
            try:
                _write_smart_video(src, work / "picture.mp4", index, plan, report)
                _join(work / "picture.mp4", tracks, temp, report)
                report(92.0, "Checking the result")
                windows = join_windows(plan, index)
                fallback = _verify(temp, kept_frames / rate, bool(extras.sound), rate, windows)
            except Exception as exc:  # any failure here still has the plain re-encode below
                log.warning("smart render of %s failed, re-encoding instead", src, exc_info=True)
                fallback = f"smart render failed: {exc}"
            if fallback is None:
                copied, encoded = plan.copy_frames / rate, (kept_frames - plan.copy_frames) / rate
                result = _figures("smart", len(frames), float(copied), float(encoded))
        if result is None:  # no smart render, or it failed its check
            temp.unlink(missing_ok=True)
            _reencode(src, work / "encoded.mkv", frames, rate, video_encoder(container), report)
            _join(work / "encoded.mkv", tracks, temp, report)
            result = _figures("reencode", len(frames), 0.0, float(kept_frames / rate))
    if fallback:
        result["fallback_reason"] = fallback
    elif info.video.codec == "h264" and container.video != "h264":
        result["fallback_reason"] = f"a {temp.suffix} file holds {container.video}, so no H.264 GOP is copied"
    # Up to half a frame moves at each cut; over hundreds of cuts that adds up to seconds, so
    # whoever maps times through the cut (subtitles) must use these, not the ranges asked for.
    result["keep"] = [list(span) for span in exact.keep]
    return result


@dataclass
class Track:
    """A sound or subtitle track being cut into a file of its own, for the join."""

    made: Future  # the file's path, once written
    kind: str  # "a" or "s"
    codec: str  # "copy", or the subtitle format to convert to
    metadata: dict[str, str]


def _cut_tracks(
    pool: ThreadPoolExecutor, src: Path, container: Container, extras: Extras, cutlist: CutList, work: Path
) -> list[Track]:
    """Start cutting every sound and subtitle track the result keeps, in `pool`, in order."""
    tracks = []
    encode = audio_encoder(container)
    for sound in extras.sound:
        path = work / f"sound-{sound.number}.mka"  # Matroska holds every sound codec
        channels = max(1, min(sound.channels, 2))
        made = pool.submit(_cut_sound, src, path, cutlist.keep, sound, channels, encode)
        tracks.append(Track(made, "a", "copy", sound.metadata))
    for subtitles in extras.subtitles:
        made = pool.submit(write_cut_subtitles, src, subtitles, cutlist, work)
        tracks.append(Track(made, "s", subtitles.codec, subtitles.metadata))
    return tracks


def _cut_sound(
    src: Path,
    path: Path,
    ranges: list[tuple[float, float]],
    sound: SoundTrack,
    channels: int,
    encode: tuple[str, ...],
) -> Path:
    write_cut_audio(src, path, ranges, sound.sample_rate, channels, encode, stream=f"a:{sound.number}")
    return path


def _frame_ranges(cutlist: CutList, rate: Fraction, total: int) -> list[tuple[int, int]]:
    """The kept ranges as frame numbers [start, stop) of the `total` there are, joined where they touch."""
    ranges: list[tuple[int, int]] = []
    for a, b in cutlist.keep:
        start, stop = round(a * rate), min(round(b * rate), total)
        if stop <= start:
            continue
        if ranges and start <= ranges[-1][1]:
            ranges[-1] = (ranges[-1][0], max(stop, ranges[-1][1]))
        else:
            ranges.append((start, stop))
    if not ranges:
        raise MediaError("The cut would leave less than one frame of this video.")
    return ranges


def _index_video(src: Path, info: MediaInfo, rate: Fraction, report: Progress) -> VideoIndex | None:
    """Read the packet headers (no decoding); None where smart rendering cannot be trusted."""
    if info.video.codec != "h264" or info.container not in SMART_CONTAINERS:
        return None
    if info.video.pix_fmt not in ("yuv420p", "yuvj420p"):
        return None
    with av.open(str(src)) as container:
        stream = container.streams.video[0]
        context = stream.codec_context
        if X264_PROFILES.get(context.profile) is None or not context.extradata:
            return None
        time_base = stream.time_base
        ticks = 1 / (rate * time_base)
        if ticks.denominator != 1:
            return None
        pts, keys, size = [], [], 0
        report(0.0, "Reading the video's structure")
        for packet in container.demux(stream):
            if packet.pts is None:
                continue
            pts.append(packet.pts)
            keys.append(packet.is_keyframe)
            size += packet.size
            if packet.is_keyframe and not _starts_with_idr(
                bytes(packet), _nal_length_size(context.extradata)
            ):
                return None  # open GOP: a copied I-frame would show frames from before the cut
    if not pts:
        return None
    pts_array = np.asarray(pts, np.int64)
    first = int(pts_array.min())
    steps = (pts_array - first) / int(ticks)
    shown = np.rint(steps).astype(np.int64)
    if np.abs(steps - shown).max() > 0.01 or len(np.unique(shown)) != len(shown):
        return None  # variable frame rate
    if shown.max() + 1 != len(shown):
        return None  # frames missing
    key_positions = np.flatnonzero(np.asarray(keys))
    if not len(key_positions) or key_positions[0] != 0:
        return None
    # Closed GOPs only: each GOP, in decode order, holds exactly the frames it shows.
    bounds = [*key_positions, len(shown)]
    for begin, end in zip(bounds[:-1], bounds[1:], strict=True):
        group = shown[begin:end]
        if group.min() != shown[begin] or group.max() != shown[begin] + (end - begin) - 1:
            return None
    reorder = int(max(0, (np.arange(len(shown)) - shown).max()))
    duration = len(shown) / rate
    return VideoIndex(
        time_base=time_base,
        frame_ticks=int(ticks),
        first_pts=first,
        shown=shown,
        keyframes=shown[key_positions],
        key_positions=key_positions,
        reorder=reorder,
        bit_rate=int(size * 8 / float(duration)) if duration else 0,
    )


def _plan_smart(frames: list[tuple[int, int]], index: VideoIndex) -> SmartPlan:
    """Per kept clip: encode up to the first GOP start inside it, copy whole GOPs, encode the rest."""
    plan = SmartPlan()
    keys = index.keyframes
    total = len(index.shown)
    ends = [*keys[1:], total]  # where each GOP ends
    for start, stop in frames:
        stop = min(stop, total)
        if stop <= start:
            continue
        first = int(np.searchsorted(keys, start, side="left"))
        # Past the last GOP that still ends before `stop`.
        last = first
        while last < len(keys) and ends[last] <= stop:
            last += 1
        if last == first:
            plan.pieces.append(Piece(start, stop, copy=False))
            continue
        copy_from, copy_to = int(keys[first]), int(ends[last - 1])
        if copy_from > start:
            plan.pieces.append(Piece(start, copy_from, copy=False))
        plan.pieces.append(Piece(copy_from, copy_to, copy=True))
        if copy_to < stop:
            plan.pieces.append(Piece(copy_to, stop, copy=False))
    for piece in plan.pieces:
        if piece.copy:
            plan.copy_frames += piece.stop - piece.start
        else:
            plan.encode_frames += piece.stop - piece.start
            plan.restarts += 1
    return plan


def _smart_work(plan: SmartPlan, index: VideoIndex) -> float:
    """auto-editor's estimate: frames encoded + frames copied / 32 + one GOP per encoder restart."""
    gop = len(index.shown) / max(1, len(index.keyframes))
    return plan.encode_frames + plan.copy_frames * COPY_COST + plan.restarts * gop


def _write_smart_video(
    src: Path, out_path: Path, index: VideoIndex, plan: SmartPlan, report: Progress
) -> None:
    """Write the video track alone: copied GOPs and re-encoded edges, one frame grid, one dts line."""
    encoded_pieces = sum(1 for piece in plan.pieces if not piece.copy)
    with av.open(str(src)) as reader, av.open(str(src)) as decoder, av.open(str(out_path), "w") as out:
        source = reader.streams.video[0]
        decoding = decoder.streams.video[0]
        decoding.thread_type = "AUTO"
        target = out.add_stream_from_template(source)
        target.time_base = index.time_base
        length_size = _nal_length_size(source.codec_context.extradata)
        parameter_sets = _parameter_sets(source.codec_context.extradata, length_size)
        packets = _PacketCursor(reader, source, index)
        shown_out = 0  # frames written so far, in display order
        decoded_out = 0  # packets written so far, in decode order
        done_encoding = 0
        for piece in plan.pieces:
            if piece.copy:
                first = True
                for packet, shown in packets.take(piece.start, piece.stop):
                    data = bytes(packet)
                    if first:
                        data = parameter_sets + data  # the source's SPS/PPS, after an edge's own
                        first = False
                    _mux(
                        out,
                        target,
                        data,
                        shown_out + shown - piece.start,
                        decoded_out,
                        index,
                        packet.is_keyframe,
                    )
                    decoded_out += 1
            else:
                done_encoding += 1
                report(
                    90 * done_encoding / max(1, encoded_pieces),
                    f"Encoding {done_encoding} of {encoded_pieces} segments",
                )
                for offset, data, key in _encode_edge(decoder, decoding, index, piece, length_size):
                    _mux(out, target, data, shown_out + offset, decoded_out, index, key)
                    decoded_out += 1
            shown_out += piece.stop - piece.start


def _mux(out, stream, data: bytes, shown: int, decoded: int, index: VideoIndex, keyframe: bool) -> None:
    # One line of decode times for the whole output, `reorder` frames behind display, keeps
    # every dts rising and every pts at or after its dts, whichever piece a packet came from.
    packet = av.Packet(data)
    packet.stream = stream
    packet.time_base = index.time_base
    packet.pts = shown * index.frame_ticks
    packet.dts = (decoded - index.reorder) * index.frame_ticks
    packet.duration = index.frame_ticks
    packet.is_keyframe = keyframe
    out.mux(packet)


class _PacketCursor:
    """Walks the source's video packets once, in decode order, handing out runs of whole GOPs."""

    def __init__(self, container, stream, index: VideoIndex):
        self.packets = (p for p in container.demux(stream) if p.pts is not None)
        self.index = index
        self.position = 0

    def take(self, start: int, stop: int) -> Iterator[tuple[av.Packet, int]]:
        """The packets of the GOPs that start at frame `start` and end at frame `stop`, with their frames."""
        begin, end = self._position_of(start), self._position_of(stop)
        while self.position < begin:
            next(self.packets)
            self.position += 1
        while self.position < end:
            yield next(self.packets), int(self.index.shown[self.position])
            self.position += 1

    def _position_of(self, key: int) -> int:
        """Where in decode order the GOP starting at frame `key` begins (the end for the last frame)."""
        found = int(np.searchsorted(self.index.keyframes, key))
        if found == len(self.index.keyframes):
            return len(self.index.shown)
        return int(self.index.key_positions[found])


def _encode_edge(
    container, stream, index: VideoIndex, piece: Piece, length_size: int
) -> Iterator[tuple[int, bytes, bool]]:
    """Decode frames [piece.start, piece.stop) and encode them as one closed, B-frame-free GOP."""
    context = stream.codec_context
    rate = 1 / (index.time_base * index.frame_ticks)
    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height = context.width, context.height
    encoder.pix_fmt = context.pix_fmt
    encoder.time_base = 1 / rate
    encoder.framerate = rate
    encoder.bit_rate = int(max(index.bit_rate, 200_000) * EDGE_BITRATE_FACTOR)
    level = context.level
    options = {
        "preset": EDGE_PRESET,
        "profile": X264_PROFILES[context.profile],
        "x264-params": "bframes=0:scenecut=0:keyint=infinite:repeat-headers=1",
    }
    if level and level > 0:
        options["level"] = f"{level // 10}.{level % 10}"
    encoder.options = options
    keys = index.keyframes
    gop_start = int(keys[np.searchsorted(keys, piece.start, side="right") - 1])
    container.seek(index.first_pts + gop_start * index.frame_ticks, stream=stream, backward=True)
    wanted = piece.stop - piece.start
    fed = 0
    for packet in container.demux(stream):
        for frame in packet.decode():
            shown = round((frame.pts - index.first_pts) / index.frame_ticks)
            if shown < piece.start or fed >= wanted:
                continue
            frame.pts = fed
            frame.time_base = encoder.time_base
            frame.pict_type = av.video.frame.PictureType.NONE
            for out in encoder.encode(frame):
                yield from _edge_packet(out, length_size)
            fed += 1
        if fed >= wanted:
            break
    if fed != wanted:
        raise MediaError(f"Could only decode {fed} of {wanted} frames at a cut.")
    for out in encoder.encode(None):
        yield from _edge_packet(out, length_size)


def _edge_packet(packet: av.Packet, length_size: int) -> Iterator[tuple[int, bytes, bool]]:
    yield int(packet.pts), _annexb_to_length_prefixed(bytes(packet), length_size), packet.is_keyframe


def _split_annexb(data: bytes) -> list[bytes]:
    units, start = [], None
    i = data.find(b"\x00\x00\x01")
    while i != -1:
        if start is not None:
            units.append(data[start:i].rstrip(b"\x00"))
        start = i + 3
        i = data.find(b"\x00\x00\x01", start)
    if start is not None:
        units.append(data[start:])
    return [unit for unit in units if unit]


def _annexb_to_length_prefixed(data: bytes, length_size: int) -> bytes:
    return b"".join(len(unit).to_bytes(length_size, "big") + unit for unit in _split_annexb(data))


def _nal_length_size(extradata: bytes) -> int:
    if not extradata or extradata[0] != 1:
        raise ValueError("H.264 without avcC extradata")
    return (extradata[4] & 3) + 1


def _parameter_sets(extradata: bytes, length_size: int) -> bytes:
    """The SPS and PPS of an avcC record, as length-prefixed NAL units to put in a packet."""
    units, pos = [], 5
    for count_mask in (0x1F, 0xFF):
        count = extradata[pos] & count_mask
        pos += 1
        for _ in range(count):
            size = int.from_bytes(extradata[pos : pos + 2], "big")
            units.append(extradata[pos + 2 : pos + 2 + size])
            pos += 2 + size
    return b"".join(len(unit).to_bytes(length_size, "big") + unit for unit in units)


def _starts_with_idr(data: bytes, length_size: int) -> bool:
    pos = 0
    while pos + length_size <= len(data):
        size = int.from_bytes(data[pos : pos + length_size], "big")
        if pos + length_size >= len(data):
            break
        kind = data[pos + length_size] & 0x1F
        if kind in (1, 5):
            return kind == 5
        pos += length_size + size
    return False


def _join(picture: Path, tracks: list[Track], temp: Path, report: Progress) -> None:
    """Mux the picture and the finished tracks into `temp`, index first for browsers."""
    paths = [track.made.result() for track in tracks]
    report(90.0, "Joining")
    args = ["-y", "-i", str(picture)]
    for path in paths:
        args += ["-i", str(path)]
    args += ["-map", "0:v:0"]
    for number, track in enumerate(tracks, start=1):
        args += ["-map", f"{number}:{track.kind}:0"]
    args += ["-c", "copy", "-map_metadata", "-1"]
    for kind in ("a", "s"):
        for number, track in enumerate(track for track in tracks if track.kind == kind):
            args += [f"-c:{kind}:{number}", track.codec]
            for key, value in track.metadata.items():
                args += [f"-metadata:s:{kind}:{number}", f"{key}={value}"]
    args += [*muxer_flags(temp), str(temp)]
    run_ffmpeg(args)


def _verify(
    path: Path, expected: Fraction, with_audio: bool, rate: Fraction, windows: list[Window]
) -> str | None:
    """None if `path` is laid out, lasts and decodes as planned, else what is wrong.

    Copied GOPs are the source's own packets; what can break is at the joins. So only the
    `windows` (each re-encoded piece and the first GOP after every join) are decoded; every
    frame in them must come out, and the decoder must report no error.
    """
    if muxer_flags(path):
        boxes = top_level_boxes(path)
        if "moov" not in boxes or "mdat" not in boxes or boxes.index("moov") > boxes.index("mdat"):
            return "the index (moov) does not come before the media data"
    video, audio = stream_durations(path)
    frame = float(1 / rate)
    if video is None or abs(video - float(expected)) > frame:
        return f"picture lasts {video} s instead of {float(expected):.3f} s"
    if with_audio and (audio is None or abs(audio - video) > frame):
        return f"sound lasts {audio} s, picture {video} s"
    return decode_errors(path, windows, rate)


def join_windows(plan: SmartPlan, index: VideoIndex) -> list[Window]:
    """Output frames [start, stop) that can hold a fault: re-encoded pieces, the first GOP after a join."""
    windows: list[Window] = []
    position = 0
    for piece in plan.pieces:
        length = piece.stop - piece.start
        if piece.copy:
            after = int(np.searchsorted(index.keyframes, piece.start, side="right"))
            gop_end = int(index.keyframes[after]) if after < len(index.keyframes) else piece.stop
            length_checked = min(length, gop_end - piece.start)
        else:
            length_checked = length
        if windows and windows[-1][1] >= position:
            windows[-1] = (windows[-1][0], max(windows[-1][1], position + length_checked))
        else:
            windows.append((position, position + length_checked))
        position += length
    return windows


def decode_errors(path: Path, windows: list[Window], rate: Fraction) -> str | None:
    """Decode the video frames of `windows` (output frame numbers), each from the keyframe before it.

    None if every frame decodes and ffmpeg's decoder logs no error, else the first complaint.
    """
    complaints: list[str] = []
    previous_level = av.logging.get_level()
    av.logging.set_level(av.logging.ERROR)
    try:
        with av.logging.Capture(local=False) as logs, av.open(str(path)) as container:
            stream = container.streams.video[0]
            # One decoding thread: with frame threads, FFmpeg logs from its own threads into the
            # Python capture, which can deadlock on the GIL (seen here as a hung check).
            stream.thread_type = "NONE"
            stream.codec_context.thread_count = 1
            time_base = stream.time_base
            first = stream.start_time or 0
            for start, stop in windows:
                complaint = _decode_window(container, stream, first, time_base, rate, start, stop)
                if complaint:
                    complaints.append(complaint)
                    break
                if logs:
                    break
            complaints += [
                f"{name}: {message.strip()}" for level, name, message in logs if level <= av.logging.ERROR
            ]
    except av.error.FFmpegError as exc:
        complaints.append(str(exc))
    finally:
        av.logging.set_level(previous_level)
    return "decoding errors: " + "; ".join(complaints)[:300] if complaints else None


def _decode_window(
    container, stream, first: int, time_base: Fraction, rate: Fraction, start: int, stop: int
) -> str | None:
    """Decode frames [start, stop) of the output from the keyframe before `start`; None if all came."""
    ticks = 1 / (rate * time_base)  # stream time-base units per frame
    container.seek(first + int(start * ticks), stream=stream, backward=True)
    seen = 0
    for frame in container.decode(stream):
        shown = round((frame.pts - first) / ticks)
        if shown >= stop:
            break
        seen += shown >= start
    if seen != stop - start:
        return f"frames {start}-{stop}: {seen} of {stop - start} decoded"
    return None


def top_level_boxes(path: Path) -> list[str]:
    """The kinds of an MP4 file's top-level boxes, in file order."""
    kinds = []
    with open(path, "rb") as file:
        while len(header := file.read(8)) == 8:
            size, kind = int.from_bytes(header[:4], "big"), header[4:].decode("latin-1")
            kinds.append(kind)
            if size == 0:
                break  # the box runs to the end of the file
            if size == 1:
                size = int.from_bytes(file.read(8), "big") - 8
            file.seek(size - 8, os.SEEK_CUR)
    return kinds


def stream_durations(path: str | Path) -> tuple[float | None, float | None]:
    """How long the first video and the first audio track of `path` last, in seconds, as stored."""
    with av.open(str(path)) as container:
        found = []
        for streams in (container.streams.video, container.streams.audio):
            found.append(stored_length(streams[0]) if streams else None)
    return found[0], found[1]


def _reencode(
    src: Path,
    picture: Path,
    frames: list[tuple[int, int]],
    rate: Fraction,
    encode: tuple[str, ...],
    report: Progress,
) -> None:
    """Decode the whole picture, keep the frames of the kept clips and encode them afresh, alone."""
    half = 1 / (2 * rate)
    # Frames sit on a grid of 1/rate; half a frame early at both ends selects exactly [a, b).
    terms = "+".join(
        f"between(t,{float(a / rate - half):.6f},{float(b / rate - half):.6f})" for a, b in frames
    )
    args = ["-y", "-i", str(src), "-map", "0:v:0", "-an", "-sn", "-dn"]
    args += ["-vf", f"select='{terms}',setpts=N/FRAME_RATE/TB", *encode]
    args += ["-r", f"{rate.numerator}/{rate.denominator}", str(picture)]
    kept = float(sum(b - a for a, b in frames) / rate)
    label = f"Encoding {len(frames)} segments"
    run_ffmpeg(args, duration=kept, on_progress=lambda f: report(88 * f, label))


def _figures(mode: str, segments: int, copied: float, encoded: float) -> dict:
    return {
        "mode": mode,
        "segments": segments,
        "copied_seconds": round(copied, 3),
        "encoded_seconds": round(encoded, 3),
    }
