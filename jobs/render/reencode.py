"""The plain re-encode of a cut's picture, in segments encoded at once on every core.

Each segment is one ffmpeg that seeks to its first kept frame, decodes up to its last and
encodes the kept frames as a run of closed GOPs; an ffconcat list joins them in order for the
join with the sound, which copies the packets (no second pass over the picture).
"""

import threading
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from fractions import Fraction
from pathlib import Path

from jobs.ffmpeg import run_ffmpeg, video_filter_file
from jobs.progress import Progress
from jobs.render.parallel import threads_each, usable_cores
from jobs.render.plan import split_frames

# Below this many kept seconds a segment costs more in start-up and seeking than it saves.
SHORTEST_SEGMENT = 10.0


class _Stopped(Exception):
    """Another segment failed or the render was cancelled: this one's ffmpeg is to stop."""


def reencode_picture(
    src: Path,
    work: Path,
    frames: list[tuple[int, int]],
    rate: Fraction,
    encode: tuple[str, ...],
    report: Progress,
) -> Path:
    """Encode the kept `frames` of src's picture afresh, alone; return the ffconcat list of the pieces."""
    kept = sum(b - a for a, b in frames)
    # One segment a core: each more seeks back to a keyframe and decodes up to a GOP twice.
    segments = split_frames(frames, max(1, min(usable_cores(), int(kept / rate / SHORTEST_SEGMENT))))
    workers = len(segments)
    done = [0.0] * len(segments)  # seconds encoded of each segment, for the progress
    stop = threading.Event()
    label = f"Encoding {len(frames)} segments"

    def encode_one(number: int) -> Path:
        def on_progress(percent: float, stage: str) -> None:
            if stop.is_set():
                raise _Stopped
            done[number] = percent / 100 * _seconds(segments[number], rate)

        path = work / f"segment-{number}.mkv"
        _encode_segment(src, path, segments[number], rate, encode, threads_each(workers), on_progress)
        return path

    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(encode_one, number) for number in range(len(segments))]
        try:
            # Progress goes out from this thread only: a cancel raised by `report` lands here.
            while wait(futures, timeout=0.25, return_when=FIRST_EXCEPTION).not_done:
                report(88 * sum(done) / float(kept / rate), label)
                if any(future.done() and future.exception() for future in futures):
                    break
            paths = [future.result() for future in futures]
        except BaseException:
            stop.set()
            raise
    listing = work / "picture.ffconcat"
    lines = ["ffconcat version 1.0"]
    for path, segment in zip(paths, segments, strict=True):
        lines += [f"file '{path.name}'", f"duration {_seconds(segment, rate):.6f}"]
    listing.write_text("\n".join(lines) + "\n")
    report(88.0, label)
    return listing


def _encode_segment(
    src: Path,
    picture: Path,
    frames: list[tuple[int, int]],
    rate: Fraction,
    encode: tuple[str, ...],
    threads: int,
    on_progress: Progress,
) -> None:
    """Seek to the first of `frames`, keep those frames and encode them, with `threads` threads."""
    half = 1 / (2 * rate)
    # Half a frame before the first kept one: the seek's timestamps start there, and frames sit
    # on a grid of 1/rate, so half a frame early at both ends selects exactly [a, b).
    start = max(Fraction(0), frames[0][0] / rate - half)
    length = frames[-1][1] / rate - start
    clips = [(float(a / rate - half - start), float(b / rate - half - start)) for a, b in frames]
    # In a file: an edit's thousands of clips pass the 128 KiB one argument may hold.
    graph = picture.with_suffix(".filter")
    graph.write_text(f"select='{inside(clips)}',setpts=N/FRAME_RATE/TB")
    args = ["-y", "-threads", str(threads), "-ss", f"{float(start):.6f}", "-t", f"{float(length):.6f}"]
    args += ["-i", str(src), "-map", "0:v:0", "-an", "-sn", "-dn", *video_filter_file(graph)]
    args += [*encode, "-threads", str(threads), "-r", f"{rate.numerator}/{rate.denominator}", str(picture)]
    run_ffmpeg(args, duration=_seconds(frames, rate), on_progress=on_progress)


def _seconds(frames: list[tuple[int, int]], rate: Fraction) -> float:
    return float(sum(b - a for a, b in frames) / rate)


def inside(clips: list[tuple[float, float]]) -> str:
    """An ffmpeg expression that is true while t is in one of `clips` (in order, apart): a search
    tree, so a frame is tested against about log2(n) clips, not all of them, and nests only that
    deep (ffmpeg's parser refuses more than 100 levels, and each "+" of a flat sum is one)."""
    if len(clips) == 1:
        return "between(t,{:.6f},{:.6f})".format(*clips[0])
    middle = len(clips) // 2
    return f"if(lt(t,{clips[middle][0]:.6f}),{inside(clips[:middle])},{inside(clips[middle:])})"
