"""Signed, expiring tokens for the links we email: address confirmation and password reset.

A token is `URLSafeTimedSerializer(SECRET_KEY, salt=purpose)` over [user id, fingerprint],
where the fingerprint is a short hash of what the link is about (the email address, the
password hash). Once that changes the fingerprint no longer matches and the link is dead:
a confirmation link dies with an email change, a reset link once the password is set.
"""

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from webapp import db
from webapp.models import User


@dataclass(frozen=True)
class Purpose:
    salt: str
    max_age: int  # seconds
    subject: Callable[[User], str]


CONFIRM = Purpose("confirm-email", 48 * 3600, lambda user: user.email)
RESET = Purpose("reset-password", 3600, lambda user: user.password_hash)


def _fingerprint(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:16]


def _serializer(purpose: Purpose) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=purpose.salt)


def make_token(purpose: Purpose, user: User) -> str:
    return _serializer(purpose).dumps([user.id, _fingerprint(purpose.subject(user))])


def verify_token(purpose: Purpose, token: str) -> tuple[bool, bool, User | None]:
    """(expired, invalid, user), like Flask-Security.

    invalid: forged, for another purpose, for no user, or the user's subject changed since.
    expired: genuine and still current, but older than the purpose's max age.
    `user` is set whenever the token is not invalid.
    """
    serializer = _serializer(purpose)
    expired = False
    try:
        data = serializer.loads(token, max_age=purpose.max_age)
    except SignatureExpired as error:
        # The signature was checked before the age, so the payload is ours.
        data = serializer.load_payload(error.payload)
        expired = True
    except BadSignature:
        return False, True, None
    try:
        user_id, fingerprint = data
        user = db.session.get(User, int(user_id))
    except (TypeError, ValueError):
        return False, True, None
    if user is None or not hmac.compare_digest(str(fingerprint), _fingerprint(purpose.subject(user))):
        return False, True, None
    return expired, False, user


def confirmation_token(user: User) -> str:
    return make_token(CONFIRM, user)


def verify_confirmation(token: str) -> tuple[bool, bool, User | None]:
    return verify_token(CONFIRM, token)


def reset_token(user: User) -> str:
    return make_token(RESET, user)


def verify_reset(token: str) -> tuple[bool, bool, User | None]:
    return verify_token(RESET, token)
