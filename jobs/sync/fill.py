"""Camera fill: where the external recording does not cover the picture, the camera's own sound,
brought to the external's loudness and joined by crossfades, so silence there is not read as a
pause and cut with its speech."""

from pathlib import Path

import numpy as np

from jobs.ffmpeg import FROM_TIME_ZERO
from jobs.probe import MediaInfo
from jobs.progress import Progress
from jobs.silence import FRAME_SECONDS, frame_levels
from jobs.sync.align import OUTPUT_RATE

# Where the external recording does not cover the picture, the camera's sound fills in, joined by
# crossfades this long: short enough to sound like a cut, long enough not to click.
FADE_SECONDS = 0.05
FADE_SAMPLES = round(FADE_SECONDS * OUTPUT_RATE)
# The camera's sound is matched to the external's by this percentile of 10 ms frame levels (speech)
# over the stretch both recorded, within ±MAX_FILL_GAIN_DB (a silent camera must not be blown up).
FILL_PERCENTILE = 95
MAX_FILL_GAIN_DB = 30.0

MATCHING_LEVELS = "Matching levels"


def gaps(covered: tuple[int, int], length: int) -> tuple[int, int]:
    """Samples at the start and at the end the external recording leaves uncovered; a gap shorter
    than a crossfade is left silent (it cannot hold a word, and there is no room to join)."""
    head, tail = covered[0], length - covered[1]
    return (head if head >= FADE_SAMPLES else 0), (tail if tail >= FADE_SAMPLES else 0)


def fill_gain(
    primary: Path,
    info: MediaInfo,
    external: Path,
    ext_info: MediaInfo,
    sync: dict,
    covered: tuple[int, int],
    on_progress: Progress,
    primary_sound: Path | None = None,
) -> float:
    """The gain in dB that brings the camera's sound to the external's loudness: the difference of
    their FILL_PERCENTILE frame levels over the stretch both recorded. A high percentile is the
    level of speech, whatever the pauses, noise floors or a few loud bangs. Each side's levels take
    half of the progress. The camera's are read from its decoded sound when given (see jobs.sound)."""
    start, end = covered[0] / OUTPUT_RATE, covered[1] / OUTPUT_RATE
    on_progress(0.0, MATCHING_LEVELS)
    cam = frame_levels(
        primary, info.duration, lambda f: on_progress(50.0 * f, MATCHING_LEVELS), primary_sound
    )
    ext = frame_levels(external, ext_info.duration, lambda f: on_progress(50.0 * (1 + f), MATCHING_LEVELS))
    # The same stretch on each side: camera time = offset + rate · external time.
    cam_part = cam[int(start / FRAME_SECONDS) : int(end / FRAME_SECONDS)]
    ext_first = (start - sync["offset_seconds"]) / sync["rate"]
    ext_last = (end - sync["offset_seconds"]) / sync["rate"]
    ext_part = ext[max(0, int(ext_first / FRAME_SECONDS)) : max(0, int(ext_last / FRAME_SECONDS))]
    if not cam_part.size or not ext_part.size:
        return 0.0
    gain = float(np.percentile(ext_part, FILL_PERCENTILE) - np.percentile(cam_part, FILL_PERCENTILE))
    return min(max(gain, -MAX_FILL_GAIN_DB), MAX_FILL_GAIN_DB)


def fill_filter(gain: float, first: int, last: int, length: int, channels: int) -> str:
    """ffmpeg filters that join [ext] (samples `first` to `last` of the output) with the camera's
    sound before and after it, crossfaded over FADE_SAMPLES inside the external's part, into [out].

    acrossfade overlaps the end of its first input with the start of its second, so each camera
    piece runs FADE_SAMPLES into the external's part, and the joined track is exactly `length`."""
    # The camera's sound on the output's timeline (first sample at time zero, gaps filled), long
    # enough for any join even if it stops before the picture, in the external's channel layout:
    # acrossfade would otherwise bring both to the first input's, a stereo recorder down to mono.
    layout = {1: "mono", 2: "stereo"}.get(channels, f"{channels}c")
    camera = (
        f"[0:a:0]{FROM_TIME_ZERO},aresample={OUTPUT_RATE},aformat=channel_layouts={layout},"
        f"volume={gain:.2f}dB,apad=whole_len={length}"
    )
    fade = f"acrossfade=ns={FADE_SAMPLES}:c1=tri:c2=tri"
    pieces, joins, stream = [], [], "[ext]"
    if first:
        pieces.append(f"[head]atrim=end_sample={first + FADE_SAMPLES}[camhead]")
        joins.append(f"[camhead]{stream}{fade}[headed]")
        stream = "[headed]"
    if last < length:
        # Joined to whatever came before: the external alone when the recorder started first.
        pieces.append(f"[tail]atrim=start_sample={last - FADE_SAMPLES},asetpts=N/SR/TB[camtail]")
        joins.append(f"{stream}[camtail]{fade}[tailed]")
        stream = "[tailed]"
    labels = ["[head]"] * bool(first) + ["[tail]"] * (last < length)
    split = f"asplit={len(labels)}{''.join(labels)}"
    return ";".join([f"{camera},{split}", *pieces, *joins, f"{stream}anull[out]"])
