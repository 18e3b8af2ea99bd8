"""The fine stage: a placement checked with short full-rate windows spread over the whole overlap,
each looked for near where the placement puts it; the windows that agree give the offset and the
clock rate (see jobs.sync.drift)."""

import math

import numpy as np
from scipy import fft as sfft

from jobs.progress import Progress, ignore
from jobs.sync.correlate import parabola, phat
from jobs.sync.drift import agreeing_line
from jobs.sync.read import ANALYSIS_RATE, QUIET_SHARE

FINE_WINDOW = 4.0
FINE_WINDOWS = 24
FINE_MARGIN = 0.05
UPSAMPLE = 16
# The fine stage reads its windows again (up to FINE_PASSES times in all) while the rate it fits
# differs from the one it resampled by enough to move a window's ends by more than this.
FINE_PASSES = 3
RATE_SETTLED = 0.0001
# A placement that leaves less overlap than this (the fine windows and their margins) is not checked.
MIN_CHECKED_OVERLAP = 0.25 + 2 * FINE_MARGIN + 0.001
# A fine window is checked only when it holds sound: a window of pause holds only each recorder's
# own noise, which is no evidence for or against a placement. Its RMS must reach the geometric
# mean of the external's noise floor and loud level (the 10th and 90th percentiles of the RMS of
# SOUND_FRAME frames), or half the loud level for sound without pauses (music, a hum).
SOUND_FRAME = 0.05

MEASURING = "Measuring drift"


def fine_match(
    cam: np.ndarray,
    ext: np.ndarray,
    offset: float,
    rate: float,
    on_progress: Progress,
    sounding: float = QUIET_SHARE,
) -> dict:
    """Check and refine a placement (see _fine_pass). The coarse rate can be hundreds of ppm off
    on a short overlap, which smears every window; so while the fitted rate moves the ends of a
    window by more than RATE_SETTLED, the windows are read again resampled by the new line."""
    fine = _fine_pass(cam, ext, offset, rate, on_progress, sounding)
    for _ in range(FINE_PASSES - 1):
        if fine["agreeing"] < 2 or abs(fine["rate"] - rate) * FINE_WINDOW <= RATE_SETTLED:
            break
        offset, rate = fine["offset"], fine["rate"]
        # The first pass's progress already covers the refining ones.
        fine = _fine_pass(cam, ext, offset, rate, ignore, sounding)
    return fine


def _fine_pass(
    cam: np.ndarray,
    ext: np.ndarray,
    offset: float,
    rate: float,
    on_progress: Progress,
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
        window = int(overlap(cam.size, ext.size, offset, rate) * sr) - 2 * margin - 4
        first, last = _fine_span(cam.size, ext.size, offset, rate, window, margin)
        last = max(first, last)
    count = max(1, min(FINE_WINDOWS, int((last - first) // window) + 1))
    starts = np.linspace(first, last, count).astype(int)
    size = sfft.next_fast_len(window + 2 * margin + window, real=True)
    steps = np.arange(window) / rate  # external samples per camera sample, for the resampling
    points = []
    for number, start in enumerate(starts):
        on_progress(100.0 * number / len(starts), MEASURING)
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
        cross = phat(sfft.rfft(target, size) * np.conj(sfft.rfft(piece, size)))
        correlation = sfft.irfft(cross, size * UPSAMPLE) * UPSAMPLE
        search = correlation[: 2 * margin * UPSAMPLE + 1]
        peak = int(np.argmax(search))
        lag = (peak + parabola(search, peak)) / UPSAMPLE
        points.append((centre, (cam_start + lag + window // 2) / sr, float(search[peak])))
    on_progress(100.0, MEASURING)
    if not points:
        return {"offset": offset, "rate": rate, "windows": [], "agreeing": 0, "checked": 0}
    ext_t, cam_t, strength = np.array(points).T
    fit_offset, fit_rate, agree = agreeing_line(ext_t, cam_t, strength, rate)
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


def overlap(cam: int, ext: int, offset: float, rate: float) -> float:
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


def sounding_level(samples: np.ndarray) -> float:
    """The RMS a fine window of the normalised `samples` needs to count as sound (see SOUND_FRAME)."""
    frame = int(SOUND_FRAME * ANALYSIS_RATE)
    usable = samples.size - samples.size % frame
    if not usable:
        return QUIET_SHARE
    levels = np.sqrt(np.mean(np.square(samples[:usable].reshape(-1, frame), dtype=np.float64), axis=1))
    floor, loud = np.percentile(levels, [10, 90])
    return max(QUIET_SHARE, min(math.sqrt(floor * loud), loud / 2))
