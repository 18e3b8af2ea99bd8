"""The smart-rendered picture track: the source's own packets for whole GOPs, libx264 for the edges,
written on one frame grid with one line of decode times."""

import contextlib
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

from jobs.errors import MediaError
from jobs.progress import Progress
from jobs.render import h264
from jobs.render.index import VideoIndex
from jobs.render.parallel import Processes, decoding_processes, in_order, usable_cores
from jobs.render.plan import Piece, SmartPlan, edge_decoding

SHORT_DECODE = "Could only decode {fed} of {wanted} frames at a cut."

EdgePackets = list[tuple[int, bytes, bool]]  # (frame offset in the edge, length-prefixed data, keyframe)


class SmartRenderFailed(Exception):
    """The source did not turn out as its index said; a plain re-encode can still cut it."""


def render_workers(src: Path, index: VideoIndex, plan: SmartPlan, checked: int) -> Processes | None:
    """Worker processes (one a core, each with `src` open) for the edges of `plan` and the check
    after it (`checked`: the frames it decodes), or None where that is too little decoding to pay
    for their start. The caller enters and leaves them (`with`)."""
    edges = sum(not piece.copy for piece in plan.pieces)
    workers = decoding_processes(edge_decoding(plan.pieces, index.gops) + checked, max(edges, 1))
    return Processes(workers, _start_worker, (src, index)) if workers else None


def write_smart_video(
    src: Path, out_path: Path, index: VideoIndex, plan: SmartPlan, report: Progress, pool: Processes | None
) -> None:
    """Write the video track alone: copied GOPs and re-encoded edges, one frame grid, one dts line.

    The edges are independent closed GOPs: they are encoded in `pool`'s workers at once (see
    _encoded_edges), a few ahead of the writer, and written in order."""
    edges = [piece for piece in plan.pieces if not piece.copy]
    with av.open(str(src)) as reader, av.open(str(out_path), "w") as out:
        source = reader.streams.video[0]
        target = out.add_stream_from_template(source)
        target.time_base = index.time_base
        length_size = h264.nal_length_size(source.codec_context.extradata)
        parameter_sets = h264.parameter_sets(source.codec_context.extradata, length_size)
        encoded = _encoded_edges(src, index, edges, length_size, pool)
        packets = _PacketCursor(reader, source, index)
        shown_out = 0  # frames written so far, in display order
        decoded_out = 0  # packets written so far, in decode order
        done_encoding = 0
        with contextlib.closing(encoded):
            for piece in plan.pieces:
                if piece.copy:
                    first = True
                    for packet, shown in packets.take(piece.start, piece.stop):
                        data = bytes(packet)
                        if first:
                            data = parameter_sets + data  # the source's SPS/PPS, after an edge's own
                            first = False
                        offset = shown_out + shown - piece.start
                        _mux(out, target, data, offset, decoded_out, index, packet.is_keyframe)
                        decoded_out += 1
                else:
                    done_encoding += 1
                    report(
                        90 * done_encoding / len(edges), f"Encoding {done_encoding} of {len(edges)} segments"
                    )
                    for offset, data, key in next(encoded):
                        _mux(out, target, data, shown_out + offset, decoded_out, index, key)
                        decoded_out += 1
                shown_out += piece.stop - piece.start


def _encoded_edges(
    src: Path, index: VideoIndex, edges: list[Piece], length_size: int, pool: Processes | None
) -> Iterator[EdgePackets]:
    """Each edge's packets, in order. PyAV holds the GIL while it decodes, so the `pool`'s workers
    decode and encode the edges where there is one; else this thread does, each x264 using every
    core."""
    if pool:
        yield from in_order(pool, _encode_in_worker, edges, pool.workers + 1)
        return
    for piece in edges:
        with _open_source(src, usable_cores()) as container:
            yield _encode_edge(container, index, piece, length_size, usable_cores())


def _open_source(src: Path, threads: int):
    container = av.open(str(src))
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    stream.codec_context.thread_count = threads
    return container


# In a worker process: the source opened once for all the edges it encodes (see _encoded_edges).
_worker: tuple | None = None


def _start_worker(src: Path, index: VideoIndex) -> None:
    global _worker
    container = _open_source(src, 1)
    _worker = (container, index, h264.nal_length_size(container.streams.video[0].codec_context.extradata))


def _encode_in_worker(piece: Piece) -> EdgePackets:
    container, index, length_size = _worker
    return _encode_edge(container, index, piece, length_size, 1)


def _encode_edge(container, index: VideoIndex, piece: Piece, length_size: int, threads: int) -> EdgePackets:
    """Decode frames [piece.start, piece.stop) of the open source and encode them as one closed,
    B-frame-free GOP, with `threads` threads."""
    stream = container.streams.video[0]
    encoder = h264.edge_encoder(
        stream.codec_context, 1 / (index.time_base * index.frame_ticks), index.bit_rate, threads
    )
    keys = index.keyframes
    gop_start = int(keys[np.searchsorted(keys, piece.start, side="right") - 1])
    # Seeking also empties the decoder of what an edge before left in it.
    container.seek(index.first_pts + gop_start * index.frame_ticks, stream=stream, backward=True)
    wanted = piece.stop - piece.start
    fed = 0
    packets = []
    for packet in container.demux(stream):
        # A picture shown before the edge is decoded only if later ones lean on it: the decoder
        # drops non-reference ones (B-frames, mostly) unread, a third of the frames of a camera's
        # or x264's GOP.
        if packet.pts is not None:
            before = packet.pts < index.first_pts + piece.start * index.frame_ticks
            stream.codec_context.skip_frame = "NONREF" if before else "DEFAULT"
        for frame in packet.decode():
            shown = round((frame.pts - index.first_pts) / index.frame_ticks)
            if shown < piece.start or fed >= wanted:
                continue
            frame.pts = fed
            frame.time_base = encoder.time_base
            frame.pict_type = av.video.frame.PictureType.NONE
            for out in encoder.encode(frame):
                packets += h264.edge_packet(out, length_size)
            fed += 1
        if fed >= wanted:
            break
    if fed != wanted:
        raise MediaError(SHORT_DECODE.format(fed=fed, wanted=wanted))
    for out in encoder.encode(None):
        packets += h264.edge_packet(out, length_size)
    return packets


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
            self._next()
        while self.position < end:
            shown = int(self.index.shown[self.position])
            yield self._next(), shown

    def _next(self) -> av.Packet:
        packet = next(self.packets, None)
        if packet is None:
            raise SmartRenderFailed(
                f"the source ended after {self.position} of {len(self.index.shown)} packets"
            )
        self.position += 1
        return packet

    def _position_of(self, key: int) -> int:
        """Where in decode order the GOP starting at frame `key` begins (the end for the last frame)."""
        found = int(np.searchsorted(self.index.keyframes, key))
        if found == len(self.index.keyframes):
            return len(self.index.shown)
        return int(self.index.key_positions[found])
