"""When a match is not sure enough to apply: too weak, not confirmed along the recording, or
fitting in two places. A doubtful offset is never applied; the refusal says why."""

import math

from jobs.errors import MediaError

# Standard score a match needs: chance peaks of unrelated recordings stay around 4-7 (different
# espeak texts in the same voice reach ~7), real matches score in the tens to hundreds.
MIN_CONFIDENCE = 10.0
# From this standard score on a match is "strong"; between MIN_CONFIDENCE and this, "weak".
STRONG_CONFIDENCE = 20.0

# Share of the checked windows that must agree to confirm a placement. The best placement must
# also line up in at least RIVAL_MARGIN more windows (stretches of FINE_WINDOW) than any other:
# otherwise the sound that tells them apart is too short to trust and the match is ambiguous.
MIN_SUPPORT = 0.6
RIVAL_MARGIN = 2

MISMATCH = (
    "These two recordings do not seem to be of the same sound (match confidence {found:.1f}, "
    "needs {needed:g}).{why} Nothing was changed."
)
NOT_CONFIRMED = (
    "The match is not confirmed along the recording: only {agreeing} of {checked} stretches line up. "
    "Nothing was changed."
)
TWO_PLACES = (
    "The external audio fits the camera recording in two places, {first:+.3f} s and {second:+.3f} s; "
    "Cutroom does not guess. Nothing was changed."
)
NO_OVERLAP = "The two recordings do not overlap in time, so there is nothing to swap. Nothing was changed."


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


def support(fine: dict) -> float:
    """Share of a placement's checked windows that agree with it."""
    return fine["agreeing"] / fine["checked"] if fine["checked"] else 0.0


def refuse_doubt(chosen: dict, others: list[dict], cam_start: float) -> None:
    """Raise MediaError when the best placement is not confirmed along the recording, or when
    another one is about as well supported: applying either would be a guess."""
    if chosen["confidence"] < MIN_CONFIDENCE:
        raise MediaError(MISMATCH.format(found=chosen["confidence"], needed=MIN_CONFIDENCE, why=""))
    if support(chosen) < MIN_SUPPORT:
        raise MediaError(NOT_CONFIRMED.format(agreeing=chosen["agreeing"], checked=chosen["checked"]))
    # A placement with no agreeing window has nothing for it (on a short overlap, one window may
    # be all the evidence there is).
    rivals = [o for o in others if o["agreeing"] > 0 and o["agreeing"] > chosen["agreeing"] - RIVAL_MARGIN]
    if rivals:
        places = sorted(fine["offset"] + cam_start for fine in (chosen, rivals[0]))
        raise MediaError(TWO_PLACES.format(first=places[0], second=places[1]))
