"""The coarse stage: windows of the shorter recording, at COARSE_RATE, located in the whole of the
longer one by PHAT cross-correlation; the candidate placements are the lines their peaks agree on."""

import math

import numpy as np
from scipy import fft as sfft

from jobs.sync.correlate import parabola, phat
from jobs.sync.drift import MAX_DRIFT
from jobs.sync.read import ANALYSIS_RATE, QUIET_SHARE

COARSE_DECIMATION = 8
COARSE_RATE = ANALYSIS_RATE // COARSE_DECIMATION
COARSE_WINDOW = 20.0
COARSE_WINDOWS = 6

# How far a window may sit from the fitted line and still count as agreeing with it.
COARSE_TOLERANCE = 0.004
# A sound heard twice matches in two places: each coarse window gives up to PEAKS_PER_WINDOW peaks
# (PEAK_SEPARATION apart, the later ones only when they score CANDIDATE_CONFIDENCE), and up to
# MAX_PLACEMENTS lines through them are checked by the fine stage.
PEAKS_PER_WINDOW = 3
PEAK_SEPARATION = 0.25
CANDIDATE_CONFIDENCE = 7.0
MAX_PLACEMENTS = 3


def _window_starts(length: int, window: int, count: int) -> np.ndarray:
    count = max(1, min(count, math.ceil(length / window)))
    return np.linspace(0, max(0, length - window), count).round().astype(int)


def coarse_match(cam: np.ndarray, ext: np.ndarray) -> list[dict]:
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
            phat(long_spectrum * np.conj(sfft.rfft(piece, size, workers=-1))), size, workers=-1
        )
        mean, spread = float(correlation.mean()), float(correlation.std())
        for rank in range(PEAKS_PER_WINDOW):
            peak = int(np.argmax(correlation))
            score = (float(correlation[peak]) - mean) / spread if spread > 0 else 0.0
            if rank and score < CANDIDATE_CONFIDENCE:
                break
            lag = peak + parabola(correlation, peak)
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
