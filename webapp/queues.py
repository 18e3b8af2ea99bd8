"""The RQ queues, their short lanes, and how each is named to a person waiting in it. Standard
library only: run.py loads this file by path to start a worker per queue without loading the app."""

import os

# A kind (webapp/kinds/) names the queue it runs on; the maintenance job runs on "media". Webhook
# deliveries have their own: a receiver that is slow or down must not hold up the mail.
QUEUES = ("media", "transcribe", "mail", "webhooks")
# The work of a short recording goes to its queue's short lane instead. Every worker of a queue
# takes from the lane first, and one worker serves the lanes alone (run.py, Procfile), so an 11 s
# clip's jobs never wait for a long render or transcription to end (README: Processes).
SHORT_LANES = {"media": "media-short", "transcribe": "transcribe-short"}
# How a queue is named to the person waiting in it: "2nd in line for transcription".
QUEUE_NOUNS = {"media": "processing", "transcribe": "transcription", "mail": "sending", "webhooks": "sending"}
QUEUE_NOUNS |= {lane: QUEUE_NOUNS[queue] for queue, lane in SHORT_LANES.items()}
EVERY_QUEUE = (*SHORT_LANES.values(), *QUEUES)


def short_seconds() -> float:
    """SHORT_SECONDS: recordings up to this many seconds long are short (default 60; 0: none is)."""
    return float(os.environ.get("SHORT_SECONDS") or 60)


def lane(queue: str, duration: float | None) -> str:
    """Where a job of `queue` on a recording `duration` seconds long (None: not known) waits."""
    short = duration is not None and duration <= short_seconds()
    return SHORT_LANES.get(queue, queue) if short else queue


def served(queues: list[str]) -> list[str]:
    """The queues a worker named for `queues` takes jobs from, in order: each one's short lane
    before it, so a worker that comes free takes short work before long work."""
    found = []
    for queue in queues:
        for name in (SHORT_LANES.get(queue), queue):
            if name and name not in found:
                found.append(name)
    return found


def queue_of(name: str) -> str:
    """The queue a short lane belongs to; a queue's own name for itself."""
    return next((queue for queue, lane in SHORT_LANES.items() if lane == name), name)


def is_long_lane(name: str) -> bool:
    """Whether jobs waiting in `name` may run long: a queue that has a short lane beside it."""
    return name in SHORT_LANES
