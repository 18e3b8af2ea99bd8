"""Sending deliveries: the RQ job on the `webhooks` queue that signs and POSTs one event the
Standard Webhooks way (https://www.standardwebhooks.com/), records what came back, and after a
failure schedules the next attempt (WEBHOOK_RETRY_DELAYS apart; the workers run RQ's scheduler).

The queue is its own, served by its own worker, because receivers are other people's servers: one
that is slow or down takes up to WEBHOOK_TIMEOUT per attempt, and that must not hold up the mail.
"""

import base64
import hashlib
import hmac
import http.client
import logging
import time
from datetime import timedelta

import redis
import sqlalchemy as sa
from flask import current_app

from webapp import db
from webapp.models import Webhook, WebhookDelivery, utcnow
from webapp.pipeline import FAILURE_TTL, get_queue
from webapp.webhooks.outbound import UnsafeURL, post, resolve

log = logging.getLogger(__name__)

QUEUE = "webhooks"
# A delivery whose attempt has been due this long has lost its job; resend_overdue() queues it again.
OVERDUE = timedelta(minutes=10)
# Finished deliveries are kept this long for the log, then deleted: their bodies add up.
KEEP_LOG = timedelta(days=30)
TURNED_OFF = "not sent: the webhook is turned off"


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header: HMAC-SHA256 of "id.timestamp.body", keyed with the secret's
    bytes (the base64 after "whsec_")."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def attempt_timeout() -> int:
    """Seconds an attempt may take in all (RQ stops its job then): a name lookup, then connecting,
    sending and reading the answer's head, each within WEBHOOK_TIMEOUT."""
    return int(3 * current_app.config["WEBHOOK_TIMEOUT"]) + 30


def send(deliveries: list[WebhookDelivery], delay: float = 0) -> None:
    """Queue the next attempt of each delivery, `delay` seconds from now. Call it after the rows are
    committed. Should Redis refuse, the rows stay pending and resend_overdue() sends them later."""
    queue = get_queue(QUEUE)
    for delivery in deliveries:
        args = ("webapp.webhooks.delivery.deliver", delivery.id, delivery.attempts + 1)
        options = {
            "job_timeout": attempt_timeout(),
            "result_ttl": 3600,
            "failure_ttl": FAILURE_TTL,
            "description": f"webhook {delivery.event} to webhook {delivery.webhook_id}",
        }
        try:
            if delay:
                queue.enqueue_in(timedelta(seconds=delay), *args, **options)
            else:
                queue.enqueue(*args, **options)
        except redis.RedisError as error:
            log.warning(
                "could not queue webhook delivery %s (%s); maintenance sends it later", delivery.id, error
            )


def deliver(delivery_id: int, attempt: int) -> str:
    """RQ job: make attempt number `attempt` of a delivery, unless it is no longer the one due (the
    job was queued twice, or resend_overdue() queued another): what it did, for rq-dashboard."""
    try:
        if not _claim(delivery_id, attempt):
            return "nothing to do: the delivery is gone or settled, or another job made this attempt"
        delivery = db.session.get(WebhookDelivery, delivery_id)
        hook = delivery.webhook
        if not hook.enabled:
            return _record(delivery, None, TURNED_OFF, retry=False)
        code, error = _attempt(delivery, hook)
        if code == 410:
            hook.enabled = False
            hook.disabled_reason = (
                f"Turned off on {utcnow():%Y-%m-%d %H:%M} UTC: the receiver answered 410 Gone, "
                "which means it wants no more deliveries."
            )
            return _record(delivery, code, None, retry=False)
        return _record(delivery, code, error)
    finally:
        db.session.remove()  # a non-forking worker reuses this session for the next job


def _attempt(delivery: WebhookDelivery, hook: Webhook) -> tuple[int | None, str | None]:
    """Sign and POST the delivery once: (the answer's status code, None), or (None, what failed)."""
    timestamp = int(time.time())
    body = delivery.body.encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Cutroom-Webhooks/1",
        "webhook-id": delivery.message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(hook.secret, delivery.message_id, timestamp, body),
    }
    timeout = current_app.config["WEBHOOK_TIMEOUT"]
    try:
        return post(resolve(hook.url), body, headers, timeout), None
    except UnsafeURL as refused:
        return None, f"refused: {refused}"
    except TimeoutError:
        return None, f"timed out ({timeout:g} s)"
    except OSError as error:  # connection refused or reset, no route, TLS: the system's own words
        return None, error.strerror or str(error) or error.__class__.__name__  # not "[Errno 111] …"
    except http.client.HTTPException as error:
        return None, f"not an HTTP answer ({error.__class__.__name__})"
    except Exception as error:  # whatever else: an attempt not recorded would be made again for ever
        log.exception("webhook delivery %s failed unexpectedly", delivery.id)
        return None, f"failed ({error.__class__.__name__})"


def _claim(delivery_id: int, attempt: int) -> bool:
    """Take attempt `attempt` of a pending delivery, in one UPDATE, so two jobs never both make it.

    Until the attempt is recorded, its next try is when it would be taken for lost."""
    now = utcnow()
    claimed = db.session.execute(
        sa.update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.status == WebhookDelivery.PENDING,
            WebhookDelivery.attempts == attempt - 1,
        )
        .values(attempts=attempt, last_attempt_at=now, next_try_at=now + timedelta(seconds=attempt_timeout()))
    )
    db.session.commit()
    return claimed.rowcount == 1


def _record(delivery: WebhookDelivery, code: int | None, error: str | None, retry: bool = True) -> str:
    """Record how an attempt went; after a failure, schedule the next attempt while any are left."""
    delivery.outcomes = [*delivery.outcomes, str(code) if code else error]
    delivery.status_code, delivery.error = code, error and error[:255]
    delays = current_app.config["WEBHOOK_RETRY_DELAYS"]
    delay = None
    if code and 200 <= code < 300:
        delivery.status, delivery.next_try_at = WebhookDelivery.DELIVERED, None
    elif retry and delivery.attempts <= len(delays):
        delay = delays[delivery.attempts - 1]
        delivery.next_try_at = utcnow() + timedelta(seconds=delay)
    else:
        delivery.status, delivery.next_try_at = WebhookDelivery.FAILED, None
    db.session.commit()
    if delay is not None:
        send([delivery], delay)
    return f"{code or error}; {delivery.status}" + (
        f", next attempt in {delay:g} s" if delay is not None else ""
    )


def resend_overdue() -> int:
    """Queue again every pending delivery whose attempt is long past due, its job lost (Redis
    emptied, a worker killed mid-attempt, Redis away when it was queued): the maintenance job
    runs it, which makes delivery at least once. Returns how many it queued."""
    due = db.session.scalars(
        sa.select(WebhookDelivery).where(
            WebhookDelivery.status == WebhookDelivery.PENDING,
            WebhookDelivery.next_try_at < utcnow() - OVERDUE,
        )
    ).all()
    # One whose last attempt was lost with its job, and no attempt left, has had its day.
    last = len(current_app.config["WEBHOOK_RETRY_DELAYS"]) + 1
    for delivery in (spent := [d for d in due if d.attempts >= last]):
        delivery.status, delivery.next_try_at = WebhookDelivery.FAILED, None
        delivery.outcomes = [*delivery.outcomes, "lost"]
        delivery.error = f"gave up after {delivery.attempts} attempts (the last one was lost)"
    db.session.commit()
    due = [d for d in due if d not in spent]
    send(due)
    return len(due)


def forget_old_deliveries() -> int:
    """Delete deliveries that finished (delivered or failed) more than KEEP_LOG ago; how many."""
    gone = db.session.execute(
        sa.delete(WebhookDelivery).where(
            WebhookDelivery.status != WebhookDelivery.PENDING,
            WebhookDelivery.created_at < utcnow() - KEEP_LOG,
        )
    ).rowcount
    db.session.commit()
    return gone
