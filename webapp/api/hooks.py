"""The API's webhooks: the account page's webhooks as JSON, made, changed and checked by the same
rules (webapp.webhooks), and their deliveries. A webhook's secret is shown to write tokens only: with
it anyone can sign events the receiver would believe."""

from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import abort, g, request, url_for
from flask_login import current_user

from webapp import db, webhooks
from webapp.api import bp
from webapp.api.problems import problem
from webapp.editor.routes import json_body
from webapp.models import ApiToken, Webhook, WebhookDelivery
from webapp.webhooks import InvalidWebhook
from webapp.webhooks.events import EVENTS

NOT_AN_OBJECT = (
    'Send the webhook as a JSON object: {"url": "https://…", "events": ["item.ready"], "enabled": true}.'
)
BAD_ENABLED = "enabled must be true or false."
UNKNOWN_FIELDS = "A webhook has no field {names}: it takes url, events and enabled."
FIELDS = ("url", "events", "enabled")


@bp.get("/webhooks")
def list_webhooks():
    return {"webhooks": [webhook_json(hook) for hook in current_user.webhooks]}


@bp.post("/webhooks")
def create_webhook():
    body = _webhook_body()
    try:
        hook = webhooks.create(
            current_user._get_current_object(), body.get("url"), body.get("events"), body.get("enabled", True)
        )
    except InvalidWebhook as refusal:
        return _refused(refusal)
    location = url_for("api.show_webhook", webhook_id=hook.id, _external=True)
    return webhook_json(hook), 201, {"Location": location}


@bp.get("/webhooks/<int:webhook_id>")
def show_webhook(webhook_id: int):
    return webhook_json(webhooks.owned_webhook(current_user, webhook_id))


@bp.patch("/webhooks/<int:webhook_id>")
def change_webhook(webhook_id: int):
    hook = webhooks.owned_webhook(current_user, webhook_id)
    body = _webhook_body()
    try:
        webhooks.update(hook, body.get("url"), body.get("events"), body.get("enabled"))
    except InvalidWebhook as refusal:
        return _refused(refusal)
    return webhook_json(hook)


@bp.delete("/webhooks/<int:webhook_id>")
def delete_webhook(webhook_id: int):
    webhooks.delete(webhooks.owned_webhook(current_user, webhook_id))
    return "", 204


@bp.post("/webhooks/<int:webhook_id>/test")
def test_webhook(webhook_id: int):
    try:
        delivery = webhooks.send_test(webhooks.owned_webhook(current_user, webhook_id))
    except webhooks.TooSoon as refusal:
        return problem(429, str(refusal), headers={"Retry-After": str(refusal.wait)})
    return delivery_json(delivery), 202


@bp.get("/webhooks/<int:webhook_id>/deliveries")
def webhook_deliveries(webhook_id: int):
    hook = webhooks.owned_webhook(current_user, webhook_id)
    latest = db.session.scalars(
        sa.select(WebhookDelivery)
        .where(WebhookDelivery.webhook_id == hook.id)
        .order_by(WebhookDelivery.id.desc())
        .limit(webhooks.RECENT_DELIVERIES)
    )
    return {"deliveries": [delivery_json(delivery) for delivery in latest]}


@bp.after_request
def _no_store(response):
    """A webhook's answer carries its secret: no cache along the way may keep a copy."""
    if request.endpoint in SECRET_BEARING:
        response.headers["Cache-Control"] = "no-store"
    return response


SECRET_BEARING = {"api.list_webhooks", "api.create_webhook", "api.show_webhook", "api.change_webhook"}


def webhook_json(hook: Webhook) -> dict:
    may_write = g.api_token.scope == ApiToken.WRITE
    return {
        "id": hook.id,
        "url": hook.url if may_write else _origin(hook.url),
        "events": hook.events,
        "enabled": hook.enabled,
        "disabled_reason": hook.disabled_reason,
        "secret": hook.secret if may_write else None,
        "created_at": hook.created_at.isoformat() + "Z",
        "deliveries_url": url_for("api.webhook_deliveries", webhook_id=hook.id, _external=True),
    }


def _origin(url: str) -> str:
    """The URL's scheme, host and port, "/…" for the rest: the path of a chat service's webhook is
    itself the key to post there, so a token that may only read is not shown it."""
    parts = urlsplit(url)
    host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname
    origin = f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")
    return origin + ("/…" if url.rstrip("/") != origin else "/")


def delivery_json(delivery: WebhookDelivery) -> dict:
    def when(moment):
        return moment.isoformat() + "Z" if moment else None

    return {
        "id": delivery.message_id,
        "event": delivery.event,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "outcomes": delivery.outcomes,
        "status_code": delivery.status_code,
        "error": delivery.error,
        "created_at": when(delivery.created_at),
        "last_attempt_at": when(delivery.last_attempt_at),
        "next_try_at": when(delivery.next_try_at) if delivery.status == WebhookDelivery.PENDING else None,
    }


def _webhook_body() -> dict:
    """The request's JSON object with only a webhook's fields, each of the right type, or 400."""
    body = json_body()
    if not isinstance(body, dict):
        abort(problem(400, NOT_AN_OBJECT))
    if unknown := sorted(set(body) - set(FIELDS)):
        abort(problem(400, UNKNOWN_FIELDS.format(names=", ".join(unknown))))
    if "enabled" in body and not isinstance(body["enabled"], bool):
        abort(problem(400, BAD_ENABLED, errors=[{"field": "enabled", "detail": BAD_ENABLED}]))
    if "url" in body and not isinstance(body["url"], str):
        refusal = InvalidWebhook({"url": "url must be the receiver's URL, as a string."})
        abort(_refused(refusal))
    return body


def _refused(refusal: InvalidWebhook):
    errors = [{"field": field, "detail": message} for field, message in refusal.errors.items()]
    return problem(400, str(refusal), errors=errors)


def paths() -> dict:
    """The OpenAPI paths of the webhooks (webapp/api/openapi.py puts them in the document)."""
    from webapp.api.openapi import _json, _path, _problems, _ref

    hook_id = {**_path("webhook_id", "The webhook's id."), "schema": {"type": "integer", "minimum": 1}}
    read, write = _problems(400, 401, 404, 429), _problems(400, 401, 403, 404, 429)
    webhook = _json(_ref("Webhook"), "The webhook.")
    return {
        "/webhooks": {
            "get": {
                "operationId": "listWebhooks",
                "summary": "The account's webhooks",
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["webhooks"],
                            "properties": {"webhooks": {"type": "array", "items": _ref("Webhook")}},
                        },
                        "The webhooks.",
                    ),
                    **_problems(400, 401, 429),
                },
            },
            "post": {
                "operationId": "createWebhook",
                "summary": "Add a webhook: the URL that is told when work ends",
                "description": "The URL must be http(s) and resolve to public addresses only (unless the "
                "server allows private ones). The answer holds the signing secret.",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("WebhookRequest")}},
                },
                "responses": {
                    "201": {**webhook, "headers": {"Location": {"schema": {"type": "string"}}}},
                    **_problems(400, 401, 403, 429),
                },
            },
        },
        "/webhooks/{webhook_id}": {
            "parameters": [hook_id],
            "get": {
                "operationId": "getWebhook",
                "summary": "One webhook",
                "responses": {"200": webhook, **read},
            },
            "patch": {
                "operationId": "changeWebhook",
                "summary": "Change a webhook's URL, events or whether it is on",
                "description": "Only the fields sent change; turning it on clears why it was turned off.",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("WebhookChange")}},
                },
                "responses": {"200": webhook, **write},
            },
            "delete": {
                "operationId": "deleteWebhook",
                "summary": "Delete a webhook and its deliveries",
                "responses": {"204": {"description": "Deleted."}, **write},
            },
        },
        "/webhooks/{webhook_id}/test": {
            "parameters": [hook_id],
            "post": {
                "operationId": "testWebhook",
                "summary": "Send the webhook a test event",
                "responses": {"202": _json(_ref("Delivery"), "The delivery, queued."), **write},
            },
        },
        "/webhooks/{webhook_id}/deliveries": {
            "parameters": [hook_id],
            "get": {
                "operationId": "listDeliveries",
                "summary": f"The webhook's latest {webhooks.RECENT_DELIVERIES} deliveries, newest first",
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["deliveries"],
                            "properties": {"deliveries": {"type": "array", "items": _ref("Delivery")}},
                        },
                        "The deliveries.",
                    ),
                    **read,
                },
            },
        },
    }


def schemas() -> dict:
    string_or_null = {"type": ["string", "null"]}
    events = {"type": "array", "items": {"type": "string", "enum": list(EVENTS)}}
    fields = {
        "url": {"type": "string", "description": "An http(s) URL that takes POST requests."},
        "events": {**events, "description": "What to be told of."},
        "enabled": {"type": "boolean"},
    }
    return {
        "Webhook": {
            "type": "object",
            "required": ["id", "url", "events", "enabled", "created_at"],
            "properties": {
                "id": {"type": "integer"},
                **fields,
                "url": {
                    "type": "string",
                    "description": "Where the events go. For a read token only its scheme, host and "
                    "port, then /… (the rest may be the key to post there).",
                },
                "disabled_reason": {**string_or_null, "description": "Why it was turned off (a 410 answer)."},
                "secret": {
                    **string_or_null,
                    "description": "The signing secret (whsec_…, Standard Webhooks); null for read tokens.",
                },
                "created_at": {"type": "string", "format": "date-time"},
                "deliveries_url": {"type": "string"},
            },
        },
        "WebhookRequest": {
            "type": "object",
            "required": ["url", "events"],
            "properties": fields,
            "additionalProperties": False,
        },
        "WebhookChange": {"type": "object", "properties": fields, "additionalProperties": False},
        "Delivery": {
            "type": "object",
            "required": ["id", "event", "status", "attempts"],
            "properties": {
                "id": {"type": "string", "description": "The webhook-id header: the same on every attempt."},
                "event": {"type": "string"},
                "status": {"type": "string", "enum": ["pending", "delivered", "failed"]},
                "attempts": {"type": "integer"},
                "outcomes": {"type": "array", "items": {"type": "string"}},
                "status_code": {"type": ["integer", "null"]},
                "error": string_or_null,
                "created_at": {"type": "string", "format": "date-time"},
                "last_attempt_at": {"type": ["string", "null"], "format": "date-time"},
                "next_try_at": {"type": ["string", "null"], "format": "date-time"},
            },
        },
    }
