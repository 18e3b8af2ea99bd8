"""Who calls the API: a personal access token in `Authorization: Bearer`, checked before every API view
with its scope and its rate limit. Cookies do not count here, so a browser's session cannot be used
against the API from another site, and the API needs no CSRF token (webapp/__init__.py exempts it)."""

from flask import current_app, g, request

from webapp import db
from webapp.api import bp
from webapp.api.problems import problem
from webapp.auth.routes import in_words
from webapp.helpers import day
from webapp.models import ApiToken
from webapp.ratelimit import Limit, take

NO_TOKEN = (
    "Send a personal access token in the Authorization header (Authorization: Bearer crt_...). "
    "Make one on your account page."
)
UNKNOWN = "This token is not valid: it was revoked, or never made here. Make a new one on your account page."
EXPIRED = "This token expired on {day}. Make a new one on your account page."
READ_ONLY = (
    "This token may only read (its scope is read). Make a token with the write scope to change things."
)
TOO_MANY = "This token made more than {limit} requests in a minute. Wait {wait} and try again."
TOO_MANY_ACCOUNT = (
    "This account's tokens together made more than twice {limit} requests in a minute. "
    "Wait {wait} and try again."
)
UNKNOWN_QUERY = "This operation takes no query parameter {names}: see /api/v1/openapi.json for what it takes."
REPEATED_QUERY = "Give each query parameter once: {names} came more than once."
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
# The API's description and what it does of tus, read before anyone has a token.
PUBLIC = {"api.openapi", "api.tus_options"}


@bp.before_request
def authenticate():
    """Refuse the request (401, 403, 429) unless its token may make it; else it runs as the token's owner."""
    if request.endpoint in PUBLIC:
        return None
    scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        return _unauthorized(NO_TOKEN)
    token = ApiToken.find(raw.strip())
    if token is None or token.user.disabled:
        return _unauthorized(UNKNOWN, invalid=True)
    if token.expired:
        return _unauthorized(EXPIRED.format(day=day(token.expires_at)), invalid=True)
    if unknown := sorted(set(request.args) - _query_names(request.endpoint)):
        return problem(400, UNKNOWN_QUERY.format(names=", ".join(unknown)))
    if repeated := sorted(name for name, values in request.args.lists() if len(values) > 1):
        return problem(400, REPEATED_QUERY.format(names=", ".join(repeated)))
    limit = current_app.config["API_RATE_LIMIT"]
    # Each token has its limit, and all of an account's tokens together twice that, so making more
    # tokens does not buy more requests. What one token is refused does not use up the others'.
    detail, wait = TOO_MANY, take((Limit("api", limit, 60),), str(token.id))
    if not wait:
        detail, wait = TOO_MANY_ACCOUNT, take((Limit("api-account", 2 * limit, 60),), str(token.user_id))
    if wait:
        detail = detail.format(limit=limit, wait=in_words(wait))
        return problem(429, detail, headers={"Retry-After": str(wait)})
    if request.method not in SAFE_METHODS and token.scope != ApiToken.WRITE:
        return problem(403, READ_ONLY)
    token.touch()
    db.session.commit()
    # Flask-Login's current_user for this request: the token's owner, whatever cookie came along.
    g._login_user = token.user
    g.api_token = token
    return None


def _unauthorized(detail: str, invalid: bool = False):
    challenge = 'Bearer realm="Cutroom API"' + (', error="invalid_token"' if invalid else "")
    return problem(401, detail, headers={"WWW-Authenticate": challenge})


def _query_names(endpoint: str) -> set[str]:
    from webapp.api.openapi import query_parameters

    return {parameter["name"] for parameter in query_parameters().get(endpoint, [])}
