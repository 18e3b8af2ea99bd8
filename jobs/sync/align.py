"""Lining the external sound up on the output's timeline with ffmpeg filters: resampled by the
fitted clock rate, shifted by the offset, fitted to the picture's length."""

# ffmpeg's sample rates are integers, so the drift ratio is expressed between rates relabelled many
# times higher. libswresample keeps in_rate · 2^phase_shift in an int; past ~2^31 it overflows and
# refuses some ratios, so the scale is chosen to stay under 2^30 with 256 filter phases (linearly
# interpolated). At 48 kHz that is ×87: steps of 0.24 ppm, at most 0.12 ppm (0.43 ms an hour) off.
RESAMPLER_PHASE_SHIFT = 8
RESAMPLER_LIMIT = 1 << 30
OUTPUT_RATE = 48000


def alignment_filter(in_rate: int, rate: float, shift: int, length: int) -> str:
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
