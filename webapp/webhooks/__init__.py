"""Webhooks: URLs of a user's that Cutroom calls when their work ends. This module is what the account
page and the API share: a webhook's rules and every change to one, so both say the same.

Cut one module a part:
- events: the events and the deliveries one makes (emitted where tasks end, webapp/tasks/run.py);
- delivery: the RQ job that signs and sends a delivery, and tries again after a failure;
- outbound: the SSRF guard and the pinned connection that every request to a receiver goes through.
"""

import base64
import secrets

import sqlalchemy as sa
from flask import abort

from webapp import db
from webapp.auth.routes import in_words
from webapp.models import User, Webhook, WebhookDelivery, commit_within
from webapp.ratelimit import Limit, take
from webapp.webhooks.delivery import send
from webapp.webhooks.events import EVENTS, TEST_EVENT, add
from webapp.webhooks.outbound import UnsafeURL, resolve

MAX_WEBHOOKS = 10  # per account: each event is sent once to each
TOO_MANY = f"An account can have {MAX_WEBHOOKS} webhooks. Delete one to add another."
RECENT_DELIVERIES = 20  # in the log on the account page
# A test is a real request to someone's server, made at a click: at most this many per minute each.
TESTS = Limit("webhook-test", 5, 60)
TESTS_TOO_SOON = "This webhook was sent {limit} test events in the last minute. Send another in {wait}."


class TooSoon(Exception):
    def __init__(self, wait: int):
        super().__init__(TESTS_TOO_SOON.format(limit=TESTS.limit, wait=in_words(wait)))
        self.wait = wait


class InvalidWebhook(ValueError):
    """What is wrong with a webhook as given: a message for each field at fault ("url", "events")."""

    def __init__(self, errors: dict[str, str]):
        super().__init__(" ".join(errors.values()))
        self.errors = errors


def new_secret() -> str:
    """A signing secret in the Standard Webhooks form: "whsec_" and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def owned_webhook(user: User, webhook_id: int) -> Webhook:
    """The user's webhook, or 404: another user's must look like none at all."""
    hook = db.session.get(Webhook, webhook_id)
    if hook is None or hook.user_id != user.id:
        abort(404)
    return hook


def create(user: User, url: str, events: list[str], enabled: bool = True) -> Webhook:
    """A new webhook for `user`, with a new secret; InvalidWebhook if the URL or events are refused."""
    errors = {}
    url, events = _checked(errors, url, events)
    if errors:
        raise InvalidWebhook(errors)
    hook = Webhook(user=user, url=url, events=events, enabled=enabled, secret=new_secret())
    db.session.add(hook)
    if not commit_within(hook, MAX_WEBHOOKS):
        raise InvalidWebhook({"url": TOO_MANY})
    return hook


def update(
    hook: Webhook, url: str | None = None, events: list[str] | None = None, enabled: bool | None = None
) -> Webhook:
    """Change what is given (None: keep it). Turning a webhook on again clears why it was turned off."""
    errors = {}
    url, events = _checked(
        errors,
        hook.url if url is None else url,
        hook.events if events is None else events,
        known_url=hook.url,
    )
    if errors:
        raise InvalidWebhook(errors)
    hook.url, hook.events = url, events
    if enabled is not None:
        hook.enabled = enabled
        hook.disabled_reason = None if enabled else hook.disabled_reason
    db.session.commit()
    return hook


def delete(hook: Webhook) -> None:
    """Delete the webhook with its delivery log; attempts still to come find nothing to send."""
    db.session.delete(hook)
    db.session.commit()


def recent_deliveries(user: User, limit: int = RECENT_DELIVERIES) -> list[WebhookDelivery]:
    """The user's latest deliveries, newest first, over all their webhooks."""
    return db.session.scalars(
        sa.select(WebhookDelivery)
        .join(Webhook)
        .where(Webhook.user_id == user.id)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit)
    ).all()


def send_test(hook: Webhook) -> WebhookDelivery:
    """Send `hook` a test event (whatever events it takes), signed and retried like any other;
    TooSoon when it has had its share of them this minute."""
    if wait := take((TESTS,), str(hook.id)):
        raise TooSoon(wait)
    delivery = add(hook, TEST_EVENT, {"webhook_id": hook.id, "message": "A test event from Cutroom."})
    db.session.commit()
    send([delivery])
    return delivery


def _checked(
    errors: dict, url: str, events: list[str], known_url: str | None = None
) -> tuple[str, list[str]]:
    """The URL and events as stored; what is wrong with them goes into `errors`. The URL is resolved
    and its addresses checked (as they are again for every delivery), unless it is the one stored."""
    url = (url or "").strip()
    if not url:
        errors["url"] = "Enter the URL that should receive the webhooks."
    elif url != known_url:
        try:
            resolve(url)
        except UnsafeURL as refused:
            errors["url"] = str(refused)
    if not isinstance(events, list | tuple):
        errors["events"] = f"Give the events as a list, from {', '.join(EVENTS)}."
        return url, []
    unknown = [event for event in events if not isinstance(event, str) or event not in EVENTS]
    if unknown:
        errors["events"] = f"There is no event “{unknown[0]}”. The events are {', '.join(EVENTS)}."
    elif not events:
        errors["events"] = "Choose at least one event."
    return url, [event for event in EVENTS if event in events]
