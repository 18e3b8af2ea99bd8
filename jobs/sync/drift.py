"""Drift: the line camera time = offset + rate · external time that the fine windows agree on,
its slope the ratio of the two recorders' clocks."""

import numpy as np

# A fine window agrees with a placement when its peak is clear (a true match gives ~0.9, a wrong
# place 0.01-0.05) and lies this close to the placement's fitted line.
AGREE_STRENGTH = 0.06
AGREE_TOLERANCE = 0.0005
# A short overlap whose windows all sit this close to a steady clock is taken as drift-free.
STEADY_TOLERANCE = 0.0003
# Clock errors beyond this are not drift but a different recording (or a wrong sample rate).
MAX_DRIFT = 2000e-6
# Below this overlap a drift too small to show (see STEADY_TOLERANCE) is taken as zero.
MIN_DRIFT_SPAN = 60.0


def agreeing_line(
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
