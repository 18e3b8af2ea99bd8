"""find_offset: read both recordings, find the candidate placements (coarse), check each along
the recording (fine), and keep the one that is sure, or refuse."""

from pathlib import Path

import numpy as np

from jobs.errors import MediaError
from jobs.probe import MediaInfo
from jobs.progress import Progress, ignore, part
from jobs.sync.coarse import PEAK_SEPARATION, coarse_match
from jobs.sync.doubt import MIN_CONFIDENCE, MISMATCH, NO_OVERLAP, match_words, refuse_doubt, support
from jobs.sync.fine import MEASURING, MIN_CHECKED_OVERLAP, fine_match, overlap, sounding_level
from jobs.sync.read import ANALYSIS_RATE, CAMERA, EXTERNAL, audio_start, decode_pair, normalise, probe_audio

# Share of the progress each stage takes in find_offset.
READ_SHARE = 60.0
MATCH_SHARE = 20.0


def find_offset(
    primary: str | Path,
    external: str | Path,
    *,
    on_progress: Progress = ignore,
    primary_info: MediaInfo | None = None,
    external_info: MediaInfo | None = None,
    primary_sound: Path | None = None,
) -> dict:
    """Measure where `external` starts in `primary`, how well they match and the clock drift.

    Returns {"offset_seconds", "confidence", "match" (the confidence in words), "agreeing_windows",
    "checked_windows", "drift_ppm", "rate", "sample_rate", "windows", "placements" (every
    placement weighed: offset, confidence and windows agreeing of checked)}; see the jobs.sync
    docstring for the conventions. Raises MediaError with the reason when the two do not hold the
    same sound (quoting the confidence found), or when the match is doubtful. `primary_info` and
    `external_info` are the files' probes when the caller has them (else they are probed here).
    `primary_sound` is where the primary's decoded sound is kept (see jobs.sound), if anywhere.
    """
    on_progress(0.0, "Reading camera audio")
    primary_info, external_info = (
        probe_audio(primary, CAMERA, primary_info),
        probe_audio(external, EXTERNAL, external_info),
    )
    reading = part(on_progress, 0.0, READ_SHARE)
    cam, ext = decode_pair(primary, primary_info, external, external_info, reading, primary_sound)
    # The decoded sound starts at the container's time zero, a decode at the first audio sample.
    cam_start = 0.0 if primary_sound else audio_start(primary)

    on_progress(READ_SHARE, "Matching")
    for samples, role in ((cam, CAMERA), (ext, "external recording")):
        if not samples.size or not np.any(samples):
            raise MediaError(MISMATCH.format(found=0.0, needed=MIN_CONFIDENCE, why=f" The {role} is silent."))
    normalise(cam)
    normalise(ext)
    placements = coarse_match(cam, ext)
    best = max(line["confidence"] for line in placements)
    if best < MIN_CONFIDENCE:
        raise MediaError(MISMATCH.format(found=best, needed=MIN_CONFIDENCE, why=""))

    on_progress(READ_SHARE + MATCH_SHARE, MEASURING)
    checked = _check(cam, ext, placements, part(on_progress, READ_SHARE + MATCH_SHARE, 100.0))
    on_progress(100.0, MEASURING)
    if not checked:
        raise MediaError(NO_OVERLAP)
    checked.sort(key=lambda fine: (fine["agreeing"], support(fine), fine["confidence"]), reverse=True)
    chosen = checked[0]
    refuse_doubt(chosen, checked[1:], cam_start)
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


def _check(cam: np.ndarray, ext: np.ndarray, placements: list[dict], on_progress: Progress) -> list[dict]:
    """The fine stage's verdict on each coarse placement, each taking an equal part of the progress;
    two that it brings onto the same place count once."""
    sounding = sounding_level(ext)
    checked = []
    for number, line in enumerate(placements):
        if overlap(cam.size, ext.size, line["offset"], line["rate"]) < MIN_CHECKED_OVERLAP:
            continue  # a placement at the very edge of the camera recording leaves nothing to check
        share = 100.0 / len(placements)
        fine = fine_match(
            cam,
            ext,
            line["offset"],
            line["rate"],
            part(on_progress, share * number, share * (number + 1)),
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
    return checked


def _placement(fine: dict, cam_start: float) -> dict:
    return {
        "offset_seconds": round(fine["offset"] + cam_start, 6),
        "confidence": round(fine["confidence"], 2),
        "agreeing_windows": fine["agreeing"],
        "checked_windows": fine["checked"],
    }
