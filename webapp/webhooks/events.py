"""The events webhooks hear of, and their deliveries: one row per subscribed webhook, with the JSON
body (Standard Webhooks form: type, timestamp, data) fixed when the event happens, so every attempt
sends the same bytes under the same id."""

import json
import secrets
from datetime import UTC, datetime

import sqlalchemy as sa

from webapp import db
from webapp.mail import mail_link
from webapp.models import Item, MediaFile, Task, Webhook, WebhookDelivery, utcnow
from webapp.pipeline import redis_conn

# What a person can subscribe to, and how the account page names it.
EVENTS = {
    "task.finished": "Task finished",
    "task.failed": "Task failed",
    "item.ready": "Item ready (all its tasks finished)",
}
TEST_EVENT = "webhook.test"  # sent by "Send a test event", to that webhook alone
# How long the note that an item's run was announced as ready is kept (longer than any retry).
READY_NOTE_SECONDS = 7 * 24 * 3600


def task_ended(task: Task) -> list[WebhookDelivery]:
    """task.finished or task.failed deliveries for a task that has just ended, added to the session
    that records its end, so they are committed with it or not at all; send() them after."""
    event = "task.finished" if task.status == Task.DONE else "task.failed"
    hooks = subscribed(task.item.user_id, event)
    if not hooks:
        return []
    item = task.item
    data = {
        **_item_data(item),
        "task_id": task.id,
        "task_kind": task.kind,
        "status": task.status,
    }
    if task.status == Task.DONE:
        data["result"] = task.result
        data["links"]["files"] = _file_links(item, [item.file(role) for role in task.outputs])
    else:
        data["error"] = task.error
    return [add(hook, event, data) for hook in hooks]


def item_ready(item: Item) -> list[WebhookDelivery]:
    """item.ready deliveries, added to the session, when the latest task of each kind on the item is
    done; call it after the commit that records a task done. Two tasks ending at once may both find
    every task done: a Redis key lets only the first announce that run (named by its newest task)."""
    hooks = subscribed(item.user_id, "item.ready")
    if not hooks:
        return []
    # Read afresh: the other tasks' rows in this session may be as old as this task's start.
    rows = db.session.execute(
        sa.select(Task.id, Task.kind, Task.status).where(Task.item_id == item.id).order_by(Task.id)
    ).all()
    latest = {row.kind: row for row in rows}
    if any(row.status != Task.DONE for row in latest.values()):
        return []
    run = max(row.id for row in latest.values())
    if not redis_conn().set(f"cutroom:item-ready:{item.id}:{run}", 1, nx=True, ex=READY_NOTE_SECONDS):
        return []
    data = {
        **_item_data(item),
        "status": "ready",
        "tasks": [{"id": row.id, "kind": row.kind, "status": row.status} for row in latest.values()],
    }
    files = db.session.scalars(
        sa.select(MediaFile).where(MediaFile.item_id == item.id).order_by(MediaFile.id)
    )
    data["links"]["files"] = _file_links(item, files.all())
    return [add(hook, "item.ready", data) for hook in hooks]


def subscribed(user_id: int, event: str) -> list[Webhook]:
    hooks = db.session.scalars(sa.select(Webhook).where(Webhook.user_id == user_id, Webhook.enabled))
    return [hook for hook in hooks if event in hook.events]


def add(hook: Webhook, event: str, data: dict) -> WebhookDelivery:
    """A new delivery of `event` to `hook`, added to the session; its id is the `webhook-id` header."""
    payload = {"type": event, "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"), "data": data}
    delivery = WebhookDelivery(
        webhook_id=hook.id,
        message_id=f"msg_{secrets.token_urlsafe(18)}",
        event=event,
        body=json.dumps(payload, ensure_ascii=False, separators=(",", ":")),
        outcomes=[],
        next_try_at=utcnow(),  # due now: should queueing it fail, resend_overdue() finds it
    )
    db.session.add(delivery)
    return delivery


def _item_data(item: Item) -> dict:
    return {
        "item_id": item.id,
        "item_title": item.title,
        "links": {"item": _link("videos.show", item_id=item.id)},
    }


def _file_links(item: Item, files: list) -> dict[str, str]:
    """Download links of the files by role (those that exist)."""
    return {f.role: _link("videos.file", item_id=item.id, name=f.name) for f in files if f is not None}


def _link(endpoint: str, **values) -> str | None:
    """A full link on EXTERNAL_URL, like those in mails; None where it is not set."""
    try:
        return mail_link(endpoint, **values)
    except RuntimeError:
        return None
