"""Line up a separately recorded soundtrack with a camera's own sound, correct clock drift, swap it in.

Method, in short:

1. Both files are decoded by the same ffmpeg, in parallel, through a pipe to mono float32 at
   ANALYSIS_RATE (8 kHz): about 115 MB per hour per side. Full-rate audio is never held.
2. Coarse stage: up to COARSE_WINDOWS windows of COARSE_WINDOW seconds from the shorter recording,
   averaged down to COARSE_RATE (1 kHz), are each located in the whole of the longer one by FFT
   cross-correlation with PHAT weighting (the cross-spectrum keeps only its phase, so gain, EQ and
   low-pass differences cannot move the peak). Each window's score is the standard score of its
   peak: (peak − mean) / std of the whole correlation. Chance peaks of unrelated sound score about
   4–7; real matches score tens to hundreds. A window of a sound heard twice (a jingle played again)
   peaks at both copies, so each window gives up to PEAKS_PER_WINDOW places, and up to
   MAX_PLACEMENTS lines through them (pairs of windows vote, weighted by score) are kept as
   candidate placements, each with its offset, drift and `confidence`: the median score of the
   windows on it. Below MIN_CONFIDENCE (10) for all of them the pair is refused.
3. Fine stage, for every placement: FINE_WINDOWS windows of FINE_WINDOW seconds spread over the
   whole overlap, each resampled by the placement's clock rate, are correlated (PHAT, 8 kHz)
   against the camera sound within FINE_MARGIN of the predicted place; the correlation is
   interpolated UPSAMPLE times by zero-padding its spectrum and the peak refined with a parabola
   (precision well under 0.1 ms). A window agrees when its peak is clear and lies on the line that
   most clear windows share; a line through the agreeing windows gives the offset (the intercept)
   and the clock rate (the slope), and the windows are read again while that rate still moves.
   The placement with the most agreeing windows wins, but the pair is refused when fewer than
   MIN_SUPPORT of its windows agree (the match is not confirmed along the recording) or when
   another placement agrees in nearly as many (the sound fits in two places): a doubtful offset
   is never applied. The result states the confidence with its meaning (`match_words`).
4. Swap: ffmpeg resamples the external sound by the fitted rate (a relabel-resample-relabel chain,
   since ffmpeg's rates are integers), shifts it by the offset and trims it to the picture. Where
   it does not cover the picture, the camera's own sound fills in, level-matched (95th percentile
   of frame levels over the overlap) and joined by 50 ms crossfades; without that, silence there
   would read as a pause and be cut with its speech. It encodes AAC and copies the video untouched.

Time convention: `offset_seconds` is the time in the primary (from the start of its container) at
which the external recording's first sample plays; negative when the external started first.
`drift_ppm` is positive when the external recorder's clock runs fast (its recording of the same
span is longer); `rate` = 1 / (1 + drift_ppm·1e-6) is the factor its length is multiplied by.

Where each part lives: `read` decodes both recordings, `coarse` finds the candidate placements,
`fine` checks each along the recording with `drift` fitting its line, `doubt` refuses what is not
sure, `offset` (find_offset) runs those; `align` lines the external sound up on the output's
timeline, `fill` brings in the camera's sound where it does not cover, `swap` (swap_audio) writes
the file. sync_audio below does both halves.
"""

from pathlib import Path

from jobs.containers import output_container
from jobs.probe import MediaInfo, probe
from jobs.progress import Progress, ignore, part
from jobs.sync.doubt import MIN_CONFIDENCE, match_words
from jobs.sync.offset import find_offset
from jobs.sync.read import CAMERA, EXTERNAL, probe_audio
from jobs.sync.swap import swap_audio

__all__ = ["MIN_CONFIDENCE", "find_offset", "match_words", "swap_audio", "sync_audio"]

# Share of sync_audio's progress taken by find_offset; swap_audio takes the rest.
FIND_SHARE = 70.0


def sync_audio(
    primary: str | Path,
    external: str | Path,
    dst: str | Path,
    *,
    keep_camera_audio: bool = False,
    on_progress: Progress = ignore,
    primary_info: MediaInfo | None = None,
    primary_sound: Path | None = None,
) -> dict:
    """find_offset, then swap_audio; returns both results merged. An unfit `dst` is refused first.

    `primary_info` is the primary's probe when the caller has it (the worker keeps the upload's):
    each file is then probed here once at most, and both halves share what was found.
    `primary_sound` is where the primary's decoded sound is kept (see jobs.sound): both halves
    read it instead of decoding the primary's sound again.
    """
    primary_info = primary_info or probe(primary)
    video = primary_info.video
    output_container(dst, video and video.codec, copies_video=True, sound_tracks=1 + keep_camera_audio)
    # In find_offset's order, so the same fault is reported first.
    probe_audio(primary, CAMERA, primary_info)
    external_info = probe_audio(external, EXTERNAL)
    found = find_offset(
        primary,
        external,
        on_progress=part(on_progress, 0.0, FIND_SHARE),
        primary_info=primary_info,
        external_info=external_info,
        primary_sound=primary_sound,
    )
    written = swap_audio(
        primary,
        external,
        dst,
        found,
        keep_camera_audio=keep_camera_audio,
        on_progress=part(on_progress, FIND_SHARE, 100.0),
        primary_info=primary_info,
        external_info=external_info,
        primary_sound=primary_sound,
    )
    return {**found, **written}
