"""Cross-correlation pieces both matching stages share: PHAT weighting and sub-sample peaks."""

import numpy as np


def phat(cross: np.ndarray) -> np.ndarray:
    """Keep only the phase of a cross-spectrum (GCC-PHAT), so EQ and gain cannot shift the peak."""
    magnitude = np.abs(cross)
    magnitude += magnitude.max() * 1e-6 + 1e-20
    return cross / magnitude


def parabola(values: np.ndarray, peak: int) -> float:
    """Sub-sample position of a peak from its two neighbours, in samples (−0.5..0.5)."""
    if peak <= 0 or peak >= len(values) - 1:
        return 0.0
    left, centre, right = float(values[peak - 1]), float(values[peak]), float(values[peak + 1])
    curvature = left - 2 * centre + right
    return 0.0 if curvature >= 0 else 0.5 * (left - right) / curvature
