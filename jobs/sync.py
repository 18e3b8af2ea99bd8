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
"""

import contextlib
import math
import os
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from pathlib import Path

import av
import numpy as np
from scipy import fft as sfft

from jobs.containers import audio_encoder, muxer_flags, output_container
from jobs.errors import MediaError
from jobs.ffmpeg import FROM_TIME_ZERO, FFmpegError, decode_pcm, run_ffmpeg
from jobs.probe import MediaInfo, probe
from jobs.silence import FRAME_SECONDS, frame_levels
from jobs.streams import extra_streams

ProgressCallback = Callable[[float, str], None]

ANALYSIS_RATE = 8000
COARSE_DECIMATION = 8
COARSE_RATE = ANALYSIS_RATE // COARSE_DECIMATION
COARSE_WINDOW = 20.0
COARSE_WINDOWS = 6
FINE_WINDOW = 4.0
FINE_WINDOWS = 24
FINE_MARGIN = 0.05
UPSAMPLE = 16
# Standard score a match needs: chance peaks of unrelated recordings stay around 4-7 (different
# espeak texts in the same voice reach ~7), real matches score in the tens to hundreds.
MIN_CONFIDENCE = 10.0
# From this standard score on a match is "strong"; between MIN_CONFIDENCE and this, "weak".
STRONG_CONFIDENCE = 20.0
# How far a window may sit from the fitted line and still count as agreeing with it.
COARSE_TOLERANCE = 0.004
# A sound heard twice matches in two places: each coarse window gives up to PEAKS_PER_WINDOW peaks
# (PEAK_SEPARATION apart, the later ones only when they score CANDIDATE_CONFIDENCE), and up to
# MAX_PLACEMENTS lines through them are checked by the fine stage.
PEAKS_PER_WINDOW = 3
PEAK_SEPARATION = 0.25
CANDIDATE_CONFIDENCE = 7.0
MAX_PLACEMENTS = 3
# A fine window agrees with a placement when its peak is clear (a true match gives ~0.9, a wrong
# place 0.01-0.05) and lies this close to the placement's fitted line.
AGREE_STRENGTH = 0.06
AGREE_TOLERANCE = 0.0005
# A short overlap whose windows all sit this close to a steady clock is taken as drift-free.
STEADY_TOLERANCE = 0.0003
# The fine stage reads its windows again (up to FINE_PASSES times in all) while the rate it fits
# differs from the one it resampled by enough to move a window's ends by more than this.
FINE_PASSES = 3
RATE_SETTLED = 0.0001
# Share of the checked windows that must agree to confirm a placement. The best placement must
# also line up in at least RIVAL_MARGIN more windows (stretches of FINE_WINDOW) than any other:
# otherwise the sound that tells them apart is too short to trust and the match is ambiguous.
MIN_SUPPORT = 0.6
RIVAL_MARGIN = 2
# A placement that leaves less overlap than this (the fine windows and their margins) is not checked.
MIN_CHECKED_OVERLAP = 0.25 + 2 * FINE_MARGIN + 0.001
# Clock errors beyond this are not drift but a different recording (or a wrong sample rate).
MAX_DRIFT = 2000e-6
# Below this overlap a drift too small to show (see STEADY_TOLERANCE) is taken as zero.
MIN_DRIFT_SPAN = 60.0
# Windows quieter than this share of the recording's RMS are treated as silence and skipped.
QUIET_SHARE = 0.05
# A fine window is checked only when it holds sound: a window of pause holds only each recorder's
# own noise, which is no evidence for or against a placement. Its RMS must reach the geometric
# mean of the external's noise floor and loud level (the 10th and 90th percentiles of the RMS of
# SOUND_FRAME frames), or half the loud level for sound without pauses (music, a hum).
SOUND_FRAME = 0.05
# ffmpeg's sample rates are integers, so the drift ratio is expressed between rates relabelled many
# times higher. libswresample keeps in_rate · 2^phase_shift in an int; past ~2^31 it overflows and
# refuses some ratios, so the scale is chosen to stay under 2^30 with 256 filter phases (linearly
# interpolated). At 48 kHz that is ×87: steps of 0.24 ppm, at most 0.12 ppm (0.43 ms an hour) off.
RESAMPLER_PHASE_SHIFT = 8
RESAMPLER_LIMIT = 1 << 30
OUTPUT_RATE = 48000
# Where the external recording does not cover the picture, the camera's sound fills in, joined by
# crossfades this long: short enough to sound like a cut, long enough not to click.
FADE_SECONDS = 0.05
FADE_SAMPLES = round(FADE_SECONDS * OUTPUT_RATE)
# The camera's sound is matched to the external's by this percentile of 10 ms frame levels (speech)
# over the stretch both recorded, within ±MAX_FILL_GAIN_DB (a silent camera must not be blown up).
FILL_PERCENTILE = 95
MAX_FILL_GAIN_DB = 30.0
# Share of swap_audio's progress spent writing when the levels are measured first.
FILL_WRITE_SHARE = 80.0
READ_SECONDS = 30.0

# Share of the progress each stage takes in find_offset, and of find_offset in sync_audio.
READ_SHARE = 60.0
MATCH_SHARE = 20.0
FIND_SHARE = 70.0

MISMATCH = (
    "These two recordings do not seem to be of the same sound (match confidence {found:.1f}, "
    "needs {needed:g}).{why} Nothing was changed."
)
NO_SOUND = "The {role} has no sound track, so there is nothing to match it by."
UNREADABLE = "Cutroom could not read the sound of the {role}: {reason}"
NOT_CONFIRMED = (
    "The match is not confirmed along the recording: only {agreeing} of {checked} stretches line up. "
    "Nothing was changed."
)
TWO_PLACES = (
    "The external audio fits the camera recording in two places, {first:+.3f} s and {second:+.3f} s; "
    "Cutroom does not guess. Nothing was changed."
)
NO_OVERLAP = "The two recordings do not overlap in time, so there is nothing to swap. Nothing was changed."


def find_offset(
    primary: str | Path, external: str | Path, *, on_progress: ProgressCallback | None = None
) -> dict:
    """Measure where `external` starts in `primary`, how well they match and the clock drift.

    Returns {"offset_seconds", "confidence", "match" (the confidence in words), "agreeing_windows",
    "checked_windows", "drift_ppm", "rate", "sample_rate", "windows", "placements" (every
    placement weighed: offset, confidence and windows agreeing of checked)}; see the module
    docstring for the conventions. Raises MediaError with the reason when the two do not hold the
    same sound (quoting the confidence found), or when the match is doubtful.
    """
    report = on_progress or _ignore
    report(0.0, "Reading camera audio")
    primary_info, external_info = (
        _probe_audio(primary, "camera recording"),
        _probe_audio(external, "external"),
    )
    cam, ext = _decode_pair(primary, primary_info, external, external_info, report)
    cam_start = _audio_start(primary)

    report(READ_SHARE, "Matching")
    for samples, role in ((cam, "camera recording"), (ext, "external recording")):
        if not samples.size or not np.any(samples):
            raise MediaError(MISMATCH.format(found=0.0, needed=MIN_CONFIDENCE, why=f" The {role} is silent."))
    _normalise(cam)
    _normalise(ext)
    placements = _coarse_match(cam, ext)
    best = max(line["confidence"] for line in placements)
    if best < MIN_CONFIDENCE:
        raise MediaError(MISMATCH.format(found=best, needed=MIN_CONFIDENCE, why=""))

    report(READ_SHARE + MATCH_SHARE, "Measuring drift")
    sounding = _sounding_level(ext)
    checked = []
    for number, line in enumerate(placements):
        if _overlap(cam.size, ext.size, line["offset"], line["rate"]) < MIN_CHECKED_OVERLAP:
            continue  # a placement at the very edge of the camera recording leaves nothing to check
        fine = _fine_match(
            cam,
            ext,
            line["offset"],
            line["rate"],
            lambda fraction, number=number: report(
                READ_SHARE
                + MATCH_SHARE
                + (100 - READ_SHARE - MATCH_SHARE) * (number + fraction) / len(placements),
                "Measuring drift",
            ),
            sounding,
        )
        fine["confidence"] = line["confidence"]
        # Two coarse lines the fine stage brings onto the same place are one placement.
        same = [
            index
            for index, other in enumerate(checked)
            if abs(fine["offset"] - other["offset"]) < PEAK_SEPARATION
        ]
        if not same:
            checked.append(fine)
        elif fine["agreeing"] > checked[same[0]]["agreeing"]:
            checked[same[0]] = fine
    report(100.0, "Measuring drift")
    if not checked:
        raise MediaError(NO_OVERLAP)
    checked.sort(key=lambda fine: (fine["agreeing"], _support(fine), fine["confidence"]), reverse=True)
    chosen = checked[0]
    _refuse_doubt(chosen, checked[1:], cam_start)
    rate = chosen["rate"]
    return {
        "offset_seconds": chosen["offset"] + cam_start,
        "confidence": round(chosen["confidence"], 2),
        "match": match_words(chosen["confidence"]),
        "agreeing_windows": chosen["agreeing"],
        "checked_windows": chosen["checked"],
        "drift_ppm": (1.0 / rate - 1.0) * 1e6,
        "rate": rate,
        "sample_rate": ANALYSIS_RATE,
        "windows": chosen["windows"],
        "placements": [_placement(fine, cam_start) for fine in checked],
    }


def match_words(confidence: float) -> str:
    """The match confidence with what it means: "strong match (142)", "weak match (14)" or
    "refused (6)" (below MIN_CONFIDENCE a pair is never synced)."""
    if confidence >= STRONG_CONFIDENCE:
        meaning = "strong match"
    elif confidence >= MIN_CONFIDENCE:
        meaning = "weak match"
    else:
        meaning = "refused"
    # Rounded down, so the number shown never reaches a threshold the match did not.
    return f"{meaning} ({math.floor(confidence)})"


def _support(fine: dict) -> float:
    """Share of a placement's checked windows that agree with it."""
    return fine["agreeing"] / fine["checked"] if fine["checked"] else 0.0


def _refuse_doubt(chosen: dict, others: list[dict], cam_start: float) -> None:
    """Raise MediaError when the best placement is not confirmed along the recording, or when
    another one is about as well supported: applying either would be a guess."""
    if chosen["confidence"] < MIN_CONFIDENCE:
        raise MediaError(MISMATCH.format(found=chosen["confidence"], needed=MIN_CONFIDENCE, why=""))
    if _support(chosen) < MIN_SUPPORT:
        raise MediaError(NOT_CONFIRMED.format(agreeing=chosen["agreeing"], checked=chosen["checked"]))
    # A placement with no agreeing window has nothing for it (on a short overlap, one window may
    # be all the evidence there is).
    rivals = [o for o in others if o["agreeing"] > 0 and o["agreeing"] > chosen["agreeing"] - RIVAL_MARGIN]
    if rivals:
        places = sorted(fine["offset"] + cam_start for fine in (chosen, rivals[0]))
        raise MediaError(TWO_PLACES.format(first=places[0], second=places[1]))


def _placement(fine: dict, cam_start: float) -> dict:
    return {
        "offset_seconds": round(fine["offset"] + cam_start, 6),
        "confidence": round(fine["confidence"], 2),
        "agreeing_windows": fine["agreeing"],
        "checked_windows": fine["checked"],
    }


def swap_audio(
    primary: str | Path,
    external: str | Path,
    dst: str | Path,
    sync: dict,
    *,
    keep_camera_audio: bool = False,
    on_progress: ProgressCallback | None = None,
) -> dict:
    """Write `dst`: the primary's video copied as is, with the external sound lined up by `sync`.

    The external sound is resampled by sync["rate"] and shifted by sync["offset_seconds"]. Where it
    does not cover the primary (it started late or stopped early), the camera's own sound fills in,
    brought to the external's loudness and joined with FADE_SECONDS crossfades, so no speech is
    lost to silence; without camera sound those parts stay silent. The track is encoded in `dst`'s
    sound codec (see jobs.containers) as the first (default) audio track; with `keep_camera_audio`
    the camera's sound follows as a second track; text subtitles are carried over. An audio-only
    primary gives an audio file. `dst` appears only complete: it is written under a temporary
    name in its folder and renamed at the end.
    Returns {"output_duration", "audio_tracks", "camera_fill": [[start, end] s, ...],
    "camera_fill_gain_db": the gain given to the camera's sound, or None when nothing was filled,
    "dropped": the primary's tracks not carried over}.
    """
    report = on_progress or _ignore
    primary, external, dst = Path(primary), Path(external), Path(dst)
    info = probe(primary)
    ext_info = _probe_audio(external, "external")
    keep_camera_audio = keep_camera_audio and info.audio is not None
    container = output_container(
        dst, info.video and info.video.codec, copies_video=True, sound_tracks=1 + keep_camera_audio
    )
    extras = extra_streams(primary, container, keep_audio=False)
    length = round(info.duration * OUTPUT_RATE)
    # The samples of the output the external recording covers.
    shift = round(sync["offset_seconds"] * OUTPUT_RATE)
    covered = (max(0, shift), min(length, shift + round(ext_info.duration * sync["rate"] * OUTPUT_RATE)))
    if covered[1] - covered[0] < 2 * FADE_SAMPLES:
        raise MediaError(NO_OVERLAP)
    head, tail = _gaps(covered, length) if info.audio else (0, 0)
    first, last = (covered[0] if head else 0), (covered[1] if tail else length)
    ext_chain = _alignment_filter(ext_info.audio.sample_rate, sync["rate"], shift - first, last - first)
    graph = f"[1:a:0]{ext_chain}[ext]"
    gain = None
    if head or tail:
        gain = _fill_gain(primary, info, external, ext_info, sync, covered, report)
        graph = f"{graph};{_fill_filter(gain, first, last, length, ext_info.audio.channels)}"
    write_share = FILL_WRITE_SHARE if gain is not None else 100.0

    args = ["-i", str(primary), "-i", str(external), "-filter_complex", graph]
    if info.video:
        args += ["-map", "0:v:0", "-c:v", "copy"]
    args += ["-map", "[out]" if gain is not None else "[ext]"]
    if keep_camera_audio:
        args += ["-map", "0:a:0"]
    for number, subtitles in enumerate(extras.subtitles):
        args += ["-map", f"0:{subtitles.index}", f"-c:s:{number}", subtitles.codec]
    args += [*audio_encoder(container), "-ar", str(OUTPUT_RATE)]
    args += ["-disposition:a:0", "default", "-metadata:s:a:0", "title=External audio"]
    if keep_camera_audio:
        args += ["-disposition:a:1", "0", "-metadata:s:a:1", "title=Camera audio"]
    args += muxer_flags(dst)

    dst.parent.mkdir(parents=True, exist_ok=True)
    partial = dst.with_name(f".{dst.stem}.partial-{uuid.uuid4().hex[:8]}{dst.suffix}")
    report(100.0 - write_share, "Writing synced file")
    try:
        run_ffmpeg(
            [*args, "-y", str(partial)],
            duration=info.duration,
            on_progress=lambda fraction: report(100.0 - write_share * (1 - fraction), "Writing synced file"),
        )
        written = probe(partial)
        os.replace(partial, dst)
    finally:
        partial.unlink(missing_ok=True)
    report(100.0, "Writing synced file")
    fills = [(0, first)] if head else []
    fills += [(last, length)] if tail else []
    return {
        "output_duration": written.duration,
        "audio_tracks": 2 if keep_camera_audio else 1,
        "camera_fill": [[round(a / OUTPUT_RATE, 3), round(b / OUTPUT_RATE, 3)] for a, b in fills],
        "camera_fill_gain_db": None if gain is None else round(gain, 1),
        "dropped": extras.dropped,
    }


def sync_audio(
    primary: str | Path,
    external: str | Path,
    dst: str | Path,
    *,
    keep_camera_audio: bool = False,
    on_progress: ProgressCallback | None = None,
) -> dict:
    """find_offset, then swap_audio; returns both results merged. An unfit `dst` is refused first."""
    report = on_progress or _ignore
    video = probe(primary).video
    output_container(dst, video and video.codec, copies_video=True, sound_tracks=1 + keep_camera_audio)
    found = find_offset(
        primary, external, on_progress=lambda percent, stage: report(percent * FIND_SHARE / 100, stage)
    )
    written = swap_audio(
        primary,
        external,
        dst,
        found,
        keep_camera_audio=keep_camera_audio,
        on_progress=lambda percent, stage: report(FIND_SHARE + percent * (100 - FIND_SHARE) / 100, stage),
    )
    return {**found, **written}


def _ignore(percent: float, stage: str) -> None:
    """Progress sink for callers that do not follow progress."""


# Reading ---------------------------------------------------------------------------------------


def _probe_audio(path: str | Path, role: str) -> MediaInfo:
    info = probe(path)
    if info.audio is None:
        raise MediaError(NO_SOUND.format(role=role))
    return info


def _audio_start(path: str | Path) -> float:
    """Where the first audio sample sits on the container's timeline, in seconds (usually 0)."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        if stream.start_time is None:
            return 0.0
        start = float(stream.start_time * stream.time_base)
        return start - (container.start_time or 0) / av.time_base


def _decode_pair(
    primary: str | Path,
    primary_info: MediaInfo,
    external: str | Path,
    external_info: MediaInfo,
    report: ProgressCallback,
) -> tuple[np.ndarray, np.ndarray]:
    """Decode both files at once (two ffmpeg processes), reporting their combined progress."""
    fractions = [0.0, 0.0]
    stop = threading.Event()

    def follow(index: int) -> Callable[[float], None]:
        return lambda fraction: fractions.__setitem__(index, fraction)

    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [
            pool.submit(_decode, primary, primary_info.duration, "camera recording", follow(0), stop),
            pool.submit(_decode, external, external_info.duration, "external recording", follow(1), stop),
        ]
        try:
            while True:
                done, pending = wait(futures, timeout=0.2, return_when=FIRST_EXCEPTION)
                stage = "Reading camera audio" if not futures[0].done() else "Reading external audio"
                report(READ_SHARE * min(1.0, sum(fractions) / 2), stage)
                if not pending or any(future.exception() for future in done):
                    break
            return futures[0].result(), futures[1].result()
        finally:
            stop.set()


def _decode(
    path: str | Path,
    duration: float,
    role: str,
    on_fraction: Callable[[float], None],
    stop: threading.Event,
) -> np.ndarray:
    """The file's first audio track as mono float32 at ANALYSIS_RATE, read through a pipe."""
    expected = max(1, int((duration + 1.0) * ANALYSIS_RATE))
    samples = np.empty(expected, dtype=np.float32)
    filled = 0
    chunks = decode_pcm(path, sample_rate=ANALYSIS_RATE, chunk_seconds=READ_SECONDS)
    try:
        with contextlib.closing(chunks):
            for chunk in chunks:
                if stop.is_set():
                    break
                values = chunk[:, 0]
                if filled + values.size > samples.size:
                    samples = np.resize(samples, max(filled + values.size, int(samples.size * 1.25)))
                samples[filled : filled + values.size] = values
                filled += values.size
                on_fraction(min(1.0, filled / expected))
    except FFmpegError as exc:
        reason = exc.reason or "ffmpeg failed."
        raise MediaError(UNREADABLE.format(role=role, reason=reason)) from exc
    on_fraction(1.0)
    return samples[:filled]


def _normalise(samples: np.ndarray) -> None:
    samples -= samples.mean(dtype=np.float64)
    rms = math.sqrt(float(np.dot(samples, samples)) / samples.size)
    if rms > 0:
        samples /= rms


# Matching --------------------------------------------------------------------------------------


def _phat(cross: np.ndarray) -> np.ndarray:
    """Keep only the phase of a cross-spectrum (GCC-PHAT), so EQ and gain cannot shift the peak."""
    magnitude = np.abs(cross)
    magnitude += magnitude.max() * 1e-6 + 1e-20
    return cross / magnitude


def _window_starts(length: int, window: int, count: int) -> np.ndarray:
    count = max(1, min(count, math.ceil(length / window)))
    return np.linspace(0, max(0, length - window), count).round().astype(int)


def _coarse_match(cam: np.ndarray, ext: np.ndarray) -> list[dict]:
    """Locate windows of the shorter recording in the whole longer one and return the placements
    (lines) they agree on, best first, each scored. A window of a sound heard twice in the other
    recording peaks at both copies, so each window gives up to PEAKS_PER_WINDOW places."""
    cam_c, ext_c = _decimate(cam), _decimate(ext)
    short, long = (ext_c, cam_c) if ext_c.size <= cam_c.size else (cam_c, ext_c)
    window = min(short.size, int(COARSE_WINDOW * COARSE_RATE))
    size = sfft.next_fast_len(long.size + window, real=True)
    long_spectrum = sfft.rfft(long, size, workers=-1)
    quiet = QUIET_SHARE * math.sqrt(float(np.dot(short, short)) / short.size)
    apart = int(PEAK_SEPARATION * COARSE_RATE)
    points = []  # (external time, camera time, score) of each window's centre
    for start in _window_starts(short.size, window, COARSE_WINDOWS):
        piece = short[start : start + window]
        if math.sqrt(float(np.dot(piece, piece)) / piece.size) < quiet:
            continue
        correlation = sfft.irfft(
            _phat(long_spectrum * np.conj(sfft.rfft(piece, size, workers=-1))), size, workers=-1
        )
        mean, spread = float(correlation.mean()), float(correlation.std())
        for rank in range(PEAKS_PER_WINDOW):
            peak = int(np.argmax(correlation))
            score = (float(correlation[peak]) - mean) / spread if spread > 0 else 0.0
            if rank and score < CANDIDATE_CONFIDENCE:
                break
            lag = peak + _parabola(correlation, peak)
            correlation[max(0, peak - apart) : peak + apart + 1] = mean
            if lag > size - window:
                lag -= size
            short_centre = (start + window / 2) / COARSE_RATE
            long_centre = (lag + window / 2) / COARSE_RATE
            if short is ext_c:
                points.append((short_centre, long_centre, score))
            else:
                points.append((long_centre, short_centre, score))
    placements = []
    remaining = np.array(points).reshape(-1, 3)
    while remaining.size and len(placements) < MAX_PLACEMENTS:
        line = _vote(remaining)
        if placements and line["confidence"] < CANDIDATE_CONFIDENCE:
            break
        placements.append(line)
        ext_t, cam_t, _ = remaining.T
        remaining = remaining[np.abs(cam_t - (line["offset"] + line["rate"] * ext_t)) > PEAK_SEPARATION]
    return placements or [{"confidence": 0.0, "offset": 0.0, "rate": 1.0}]


def _decimate(samples: np.ndarray) -> np.ndarray:
    """Averages of COARSE_DECIMATION samples: crude anti-aliasing, but the coarse stage only has
    to land within a few milliseconds, and it is ten times cheaper than a polyphase filter."""
    usable = samples.size - samples.size % COARSE_DECIMATION
    return samples[:usable].reshape(-1, COARSE_DECIMATION).mean(axis=1, dtype=np.float32)


def _vote(points: np.ndarray) -> dict:
    """The line camera_time = offset + rate · external_time that the windows agree on most."""
    ext_t, cam_t, score = points.T
    candidates = [(cam_t[i] - ext_t[i], 1.0) for i in range(len(points))]
    for i in range(len(points)):
        for j in range(i + 1, len(points)):
            if abs(ext_t[j] - ext_t[i]) > 1.0:
                rate = (cam_t[j] - cam_t[i]) / (ext_t[j] - ext_t[i])
                if abs(rate - 1.0) <= MAX_DRIFT:
                    candidates.append((cam_t[i] - rate * ext_t[i], rate))
    best, best_weight = None, -1.0
    for offset, rate in candidates:
        inliers = np.abs(cam_t - (offset + rate * ext_t)) <= COARSE_TOLERANCE
        weight = float(score[inliers].sum())
        if weight > best_weight:
            best, best_weight = (offset, rate, inliers), weight
    offset, rate, inliers = best
    if inliers.sum() >= 2 and np.ptp(ext_t[inliers]) > 1.0:
        rate, offset = np.polyfit(ext_t[inliers], cam_t[inliers], 1)
    return {"confidence": float(np.median(score[inliers])), "offset": float(offset), "rate": float(rate)}


def _fine_match(
    cam: np.ndarray,
    ext: np.ndarray,
    offset: float,
    rate: float,
    on_fraction: Callable[[float], None],
    sounding: float = QUIET_SHARE,
) -> dict:
    """Check and refine a placement (see _fine_pass). The coarse rate can be hundreds of ppm off
    on a short overlap, which smears every window; so while the fitted rate moves the ends of a
    window by more than RATE_SETTLED, the windows are read again resampled by the new line."""
    fine = _fine_pass(cam, ext, offset, rate, on_fraction, sounding)
    for _ in range(FINE_PASSES - 1):
        if fine["agreeing"] < 2 or abs(fine["rate"] - rate) * FINE_WINDOW <= RATE_SETTLED:
            break
        offset, rate = fine["offset"], fine["rate"]
        fine = _fine_pass(cam, ext, offset, rate, _ignore_fraction, sounding)
    return fine


def _ignore_fraction(fraction: float) -> None:
    """Progress sink for the refining passes, which the first pass's progress already covers."""


def _fine_pass(
    cam: np.ndarray,
    ext: np.ndarray,
    offset: float,
    rate: float,
    on_fraction: Callable[[float], None],
    sounding: float,
) -> dict:
    """Check a placement with short full-rate windows spread over its whole overlap; refine it.

    Each window of the external sound is resampled by `rate` (so drift cannot smear its peak) and
    looked for within FINE_MARGIN of where the placement puts it. A window agrees when its peak is
    clear (AGREE_STRENGTH) and lies within AGREE_TOLERANCE of the line fitted through the agreeing
    windows; that line gives the offset (the intercept) and the clock rate (the slope). Windows
    quieter than `sounding` (RMS of the normalised external) are pauses and are not checked.
    """
    sr = ANALYSIS_RATE
    window, margin = int(FINE_WINDOW * sr), int(FINE_MARGIN * sr)
    first, last = _fine_span(cam.size, ext.size, offset, rate, window, margin)
    if last < first:
        # Shorter overlap than one window: one window as long as the overlap allows.
        window = int(_overlap(cam.size, ext.size, offset, rate) * sr) - 2 * margin - 4
        first, last = _fine_span(cam.size, ext.size, offset, rate, window, margin)
        last = max(first, last)
    count = max(1, min(FINE_WINDOWS, int((last - first) // window) + 1))
    starts = np.linspace(first, last, count).astype(int)
    size = sfft.next_fast_len(window + 2 * margin + window, real=True)
    steps = np.arange(window) / rate  # external samples per camera sample, for the resampling
    points = []
    for number, start in enumerate(starts):
        on_fraction(number / len(starts))
        if start + steps[-1] + 1 >= ext.size:
            continue
        if rate == 1.0:
            piece = ext[start : start + window]
        else:
            nearby = ext[start : start + window + 2]
            piece = np.interp(steps, np.arange(nearby.size), nearby).astype(np.float32)
        centre = (start + steps[window // 2]) / sr
        predicted = (offset + rate * centre) * sr - window // 2
        cam_start = int(round(predicted)) - margin
        if cam_start < 0 or cam_start + window + 2 * margin > cam.size:
            continue
        target = cam[cam_start : cam_start + window + 2 * margin]
        if np.sqrt(np.mean(piece.astype(np.float64) ** 2)) < sounding:
            continue
        cross = _phat(sfft.rfft(target, size) * np.conj(sfft.rfft(piece, size)))
        correlation = sfft.irfft(cross, size * UPSAMPLE) * UPSAMPLE
        search = correlation[: 2 * margin * UPSAMPLE + 1]
        peak = int(np.argmax(search))
        lag = (peak + _parabola(search, peak)) / UPSAMPLE
        points.append((centre, (cam_start + lag + window // 2) / sr, float(search[peak])))
    on_fraction(1.0)
    if not points:
        return {"offset": offset, "rate": rate, "windows": [], "agreeing": 0, "checked": 0}
    ext_t, cam_t, strength = np.array(points).T
    fit_offset, fit_rate, agree = _agreeing_line(ext_t, cam_t, strength, rate)
    residual = cam_t - (fit_offset + fit_rate * ext_t)
    windows = [
        {
            "external_seconds": round(float(e), 3),
            "camera_seconds": round(float(c), 6),
            "residual_ms": round(float(r) * 1000, 4),
            "strength": round(float(s), 4),
            "used": bool(u),
        }
        for e, c, r, s, u in zip(ext_t, cam_t, residual, strength, agree, strict=True)
    ]
    return {
        "offset": float(fit_offset),
        "rate": float(fit_rate),
        "windows": windows,
        "agreeing": int(agree.sum()),
        "checked": len(windows),
    }


def _overlap(cam: int, ext: int, offset: float, rate: float) -> float:
    """Seconds of the camera recording during which the external one plays, at this placement."""
    sr = ANALYSIS_RATE
    return min(cam / sr, offset + rate * ext / sr) - max(0.0, offset)


def _fine_span(
    cam: int, ext: int, offset: float, rate: float, window: int, margin: int
) -> tuple[float, float]:
    """The first and last external sample at which a fine window can start: the external part
    plays while the camera records, and the camera stretch it is looked for in (the window with
    `margin` on each side) lies inside the camera recording."""
    sr = ANALYSIS_RATE
    first = max(0.0, (margin / sr - offset) / rate) * sr
    last = min((ext - 2) / sr - window / (rate * sr), ((cam - window - margin) / sr - offset) / rate) * sr
    return first, last


def _agreeing_line(
    ext_t: np.ndarray, cam_t: np.ndarray, strength: np.ndarray, rate: float
) -> tuple[float, float, np.ndarray]:
    """The line camera = offset + rate · external that most clear windows agree with, fitted
    through them; returns (offset, rate, agreeing mask). Windows of a wrong placement land at
    random within the search margin, so they cannot gather on one line."""
    clear = strength >= AGREE_STRENGTH
    candidates = [(cam_t[i] - rate * ext_t[i], rate) for i in np.flatnonzero(clear)]
    for i in np.flatnonzero(clear):
        for j in np.flatnonzero(clear):
            if ext_t[j] - ext_t[i] > 1.0:
                slope = (cam_t[j] - cam_t[i]) / (ext_t[j] - ext_t[i])
                if abs(slope - 1.0) <= MAX_DRIFT:
                    candidates.append((cam_t[i] - slope * ext_t[i], slope))
    if not candidates:
        return float(np.median(cam_t - rate * ext_t)), rate, np.zeros(ext_t.size, dtype=bool)

    def agreeing(offset: float, slope: float) -> np.ndarray:
        return clear & (np.abs(cam_t - (offset + slope * ext_t)) <= AGREE_TOLERANCE)

    def weight(line: tuple[float, float]) -> tuple[int, float]:
        agree = agreeing(*line)
        return int(agree.sum()), float(strength[agree].sum())

    offset, slope = max(candidates, key=weight)
    for _ in range(2):
        agree = agreeing(offset, slope)
        if not agree.any():
            break
        span = float(np.ptp(ext_t[agree]))
        # The rate is measured where the windows span enough time to measure it, or where it
        # shows: a short overlap that fits a steady clock keeps rate 1 (no drift).
        steady = float(np.median(cam_t[agree] - ext_t[agree]))
        if span < MIN_DRIFT_SPAN and np.all(np.abs(cam_t[agree] - ext_t[agree] - steady) <= STEADY_TOLERANCE):
            offset, slope = steady, 1.0
        elif agree.sum() >= 2 and span > 1.0:
            slope, offset = np.polyfit(ext_t[agree], cam_t[agree], 1)
    return float(offset), float(slope), agreeing(offset, slope)


def _sounding_level(samples: np.ndarray) -> float:
    """The RMS a fine window of the normalised `samples` needs to count as sound (see SOUND_FRAME)."""
    frame = int(SOUND_FRAME * ANALYSIS_RATE)
    usable = samples.size - samples.size % frame
    if not usable:
        return QUIET_SHARE
    levels = np.sqrt(np.mean(np.square(samples[:usable].reshape(-1, frame), dtype=np.float64), axis=1))
    floor, loud = np.percentile(levels, [10, 90])
    return max(QUIET_SHARE, min(math.sqrt(floor * loud), loud / 2))


def _parabola(values: np.ndarray, peak: int) -> float:
    """Sub-sample position of a peak from its two neighbours, in samples (−0.5..0.5)."""
    if peak <= 0 or peak >= len(values) - 1:
        return 0.0
    left, centre, right = float(values[peak - 1]), float(values[peak]), float(values[peak + 1])
    curvature = left - 2 * centre + right
    return 0.0 if curvature >= 0 else 0.5 * (left - right) / curvature


# Writing ---------------------------------------------------------------------------------------


def _alignment_filter(in_rate: int, rate: float, shift: int, length: int) -> str:
    """ffmpeg filters that resample by `rate`, delay by `shift` samples (trim, when negative) and
    fit `length` samples, all at OUTPUT_RATE."""
    if abs(rate - 1.0) < 1e-9:
        steps = [f"aresample={OUTPUT_RATE}"]
    else:
        # Resample by OUTPUT_RATE/in_rate·rate: relabel, resample between scaled rates, relabel back.
        scale = max(1, RESAMPLER_LIMIT // ((1 << RESAMPLER_PHASE_SHIFT) * max(in_rate, OUTPUT_RATE)))
        scaled_out = round(OUTPUT_RATE * scale * rate)
        steps = [
            f"asetrate={in_rate * scale}",
            f"aresample={scaled_out}:phase_shift={RESAMPLER_PHASE_SHIFT}",
            f"asetrate={OUTPUT_RATE}",
        ]
    steps.append("asetpts=N/SR/TB")
    if shift > 0:
        steps.append(f"adelay=delays={shift}S:all=1")
    elif shift < 0:
        steps += [f"atrim=start_sample={-shift}", "asetpts=N/SR/TB"]
    steps += [f"apad=whole_len={length}", f"atrim=end_sample={length}"]
    return ",".join(steps)


# Filling in with the camera's sound ----------------------------------------------------------


def _gaps(covered: tuple[int, int], length: int) -> tuple[int, int]:
    """Samples at the start and at the end the external recording leaves uncovered; a gap shorter
    than a crossfade is left silent (it cannot hold a word, and there is no room to join)."""
    head, tail = covered[0], length - covered[1]
    return (head if head >= FADE_SAMPLES else 0), (tail if tail >= FADE_SAMPLES else 0)


def _fill_gain(
    primary: Path,
    info: MediaInfo,
    external: Path,
    ext_info: MediaInfo,
    sync: dict,
    covered: tuple[int, int],
    report: ProgressCallback,
) -> float:
    """The gain in dB that brings the camera's sound to the external's loudness: the difference of
    their FILL_PERCENTILE frame levels over the stretch both recorded. A high percentile is the
    level of speech, whatever the pauses, noise floors or a few loud bangs."""
    share = (100.0 - FILL_WRITE_SHARE) / 2
    start, end = covered[0] / OUTPUT_RATE, covered[1] / OUTPUT_RATE
    report(0.0, "Matching levels")
    cam = frame_levels(primary, info.duration, lambda f: report(share * f, "Matching levels"))
    ext = frame_levels(external, ext_info.duration, lambda f: report(share * (1 + f), "Matching levels"))
    # The same stretch on each side: camera time = offset + rate · external time.
    cam_part = cam[int(start / FRAME_SECONDS) : int(end / FRAME_SECONDS)]
    ext_first = (start - sync["offset_seconds"]) / sync["rate"]
    ext_last = (end - sync["offset_seconds"]) / sync["rate"]
    ext_part = ext[max(0, int(ext_first / FRAME_SECONDS)) : max(0, int(ext_last / FRAME_SECONDS))]
    if not cam_part.size or not ext_part.size:
        return 0.0
    gain = float(np.percentile(ext_part, FILL_PERCENTILE) - np.percentile(cam_part, FILL_PERCENTILE))
    return min(max(gain, -MAX_FILL_GAIN_DB), MAX_FILL_GAIN_DB)


def _fill_filter(gain: float, first: int, last: int, length: int, channels: int) -> str:
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
    pieces, joins = [], "[ext]"
    if first:
        pieces.append(f"[head]atrim=end_sample={first + FADE_SAMPLES}[camhead]")
        joins = f"[camhead][ext]acrossfade=ns={FADE_SAMPLES}:c1=tri:c2=tri"
    if last < length:
        pieces.append(f"[tail]atrim=start_sample={last - FADE_SAMPLES},asetpts=N/SR/TB[camtail]")
        joins = f"{joins}[joined];[joined][camtail]acrossfade=ns={FADE_SAMPLES}:c1=tri:c2=tri"
    labels = ["[head]"] * bool(first) + ["[tail]"] * (last < length)
    split = f"asplit={len(labels)}{''.join(labels)}"
    return ";".join([f"{camera},{split}", *pieces, f"{joins}[out]"])
