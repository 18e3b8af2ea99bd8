"""Database tables: users, their items, the files stored for an item, and the tasks run on it."""

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from flask_login import UserMixin
from flask_login.config import COOKIE_DURATION
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from webapp import db


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def new_token() -> str:
    return secrets.token_urlsafe(24)


def new_item_id() -> str:
    """Item ids are random so they can be chosen before the row exists and cannot be guessed."""
    return secrets.token_hex(6)


# Tables whose integer ids are seen from outside (URLs, folders, rate-limit keys, RQ jobs) use
# AUTOINCREMENT on SQLite, whose plain integer keys give a deleted row's id to the next row.
NEVER_REUSE_IDS = {"sqlite_autoincrement": True}


class User(UserMixin, db.Model):
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    confirmed_at: Mapped[datetime | None]
    confirmation_sent_at: Mapped[datetime | None]
    quota_bytes: Mapped[int | None] = mapped_column(sa.BigInteger)
    is_admin: Mapped[bool] = mapped_column(default=False)
    disabled: Mapped[bool] = mapped_column(default=False)
    # The words and phrases the editor suggests cutting as fillers; None: jobs.suggest's defaults.
    filler_phrases: Mapped[list | None] = mapped_column(sa.JSON)

    items: Mapped[list["Item"]] = relationship(back_populates="user", cascade="all, delete-orphan")
    logins: Mapped[list["LoginSession"]] = relationship(
        back_populates="user", cascade="all, delete-orphan", order_by="LoginSession.id"
    )
    tokens: Mapped[list["ApiToken"]] = relationship(
        back_populates="user", cascade="all, delete-orphan", order_by="ApiToken.id"
    )
    webhooks: Mapped[list["Webhook"]] = relationship(
        back_populates="user", cascade="all, delete-orphan", order_by="Webhook.id"
    )

    # The login this request runs under, set when logging in and by the user loader.
    current_login = None
    # One object per row (the session's identity map): UserMixin would compare get_id(), which is
    # a login's token here, not the account's.
    __eq__ = object.__eq__
    __hash__ = object.__hash__

    def get_id(self) -> str:
        """What Flask-Login keeps in the session and remember-me cookies: this login's token."""
        return self.current_login.token

    def set_password(self, password: str) -> None:
        """Set a new password, which ends every login (the caller may start a new one)."""
        self.password_hash = generate_password_hash(password, method="scrypt")
        self.end_logins()

    def end_logins(self) -> None:
        """Log out every session and remember-me cookie of this account."""
        self.logins.clear()

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def confirmed(self) -> bool:
        return self.confirmed_at is not None

    @property
    def quota(self) -> int:
        return self.quota_bytes if self.quota_bytes is not None else current_app.config["DEFAULT_QUOTA"]

    @property
    def used_bytes(self) -> int:
        return used_bytes(self.id)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class LoginSession(db.Model):
    """One login on one device. Its session and remember-me cookies carry a random token kept here
    only as a hash, so deleting the row logs that device out: cookies copied before are worthless."""

    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    remember: Mapped[bool] = mapped_column(default=False)
    # Shown on the account page, so a person can tell their devices apart.
    user_agent: Mapped[str | None] = mapped_column(sa.String(255))
    address: Mapped[str | None] = mapped_column(sa.String(64))

    user: Mapped[User] = relationship(back_populates="logins")

    # The raw token: known only in the request that made the login or presented its cookie.
    token = None

    @classmethod
    def begin(cls, user: User, remember: bool, user_agent: str, address: str) -> "LoginSession":
        """A new login for `user` (and the expired ones of `user` gone)."""
        for old in [login for login in user.logins if login.expired]:
            user.logins.remove(old)
        login = cls(remember=remember, user_agent=user_agent[:255], address=address[:64])
        login.token = new_token()
        login.token_hash = hash_token(login.token)
        user.logins.append(login)
        return login

    @classmethod
    def find(cls, token: str) -> "LoginSession | None":
        """The live login whose cookie carries `token`."""
        login = db.session.scalar(sa.select(cls).filter_by(token_hash=hash_token(token)))
        if login is None or login.expired:
            return None
        login.token = token
        return login

    @property
    def expired(self) -> bool:
        """Older than its cookie can be: a remember-me cookie lives a year, a plain session
        (which the browser forgets when it closes) at most as long as Flask's permanent ones."""
        lifetime = (
            current_app.config.get("REMEMBER_COOKIE_DURATION", COOKIE_DURATION)
            if self.remember
            else current_app.permanent_session_lifetime
        )
        if not isinstance(lifetime, timedelta):
            lifetime = timedelta(seconds=lifetime)
        return utcnow() - self.created_at > lifetime


class ApiToken(db.Model):
    """A personal access token for the API (webapp/api/). Like a login, only its hash is kept: the
    token itself is shown once, when it is made. Revoking deletes the row."""

    __table_args__ = NEVER_REUSE_IDS

    READ, WRITE = "read", "write"
    SCOPES = (READ, WRITE)
    PREFIX = "crt_"  # recognisable in a script, a log or a secret scanner
    # Its last use is written at most this often, so a busy script does not write on every request.
    TOUCH_EVERY = timedelta(minutes=1)
    MAX = 50  # per account; the rate limit is the account's too, so more would buy nothing
    TOO_MANY = f"An account can have {MAX} tokens. Revoke one you no longer use to make another."

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    scope: Mapped[str] = mapped_column(sa.String(8))  # read, or write (which may read too)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(back_populates="tokens")

    token = None  # the raw token: known only in the request or command that made it

    @classmethod
    def issue(cls, user: User, name: str, scope: str, expires_days: int | None) -> "ApiToken | None":
        """A new token for `user`, committed, its raw value in `.token` (shown once, never stored);
        None when the account already has MAX of them."""
        token = cls(name=name, scope=scope)
        token.token = cls.PREFIX + secrets.token_urlsafe(32)
        token.token_hash = hash_token(token.token)
        if expires_days:
            token.expires_at = utcnow() + timedelta(days=expires_days)
        user.tokens.append(token)
        return token if commit_within(token, cls.MAX) else None

    @classmethod
    def find(cls, token: str) -> "ApiToken | None":
        return db.session.scalar(sa.select(cls).filter_by(token_hash=hash_token(token)))

    @property
    def expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= utcnow()

    def touch(self) -> None:
        now = utcnow()
        if self.last_used_at is None or now - self.last_used_at >= self.TOUCH_EVERY:
            self.last_used_at = now


def lock_user(user_id: int) -> None:
    """Make this transaction's next statements wait for any other that locked the same user. On
    PostgreSQL by holding the user's row; SQLite lets one transaction write at a time anyway, so
    there a transaction that has written is already alone."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(sa.select(User.id).where(User.id == user_id).with_for_update())


def commit_within(row, limit: int) -> bool:
    """Commit the new `row` (of a model with a user_id) unless its user would then have more than
    `limit` of its kind: then roll back and return False. Counted after the insert, with the user
    locked (SQLite: by the insert), so requests arriving together cannot each see room for one more."""
    with db.session.no_autoflush:
        # Locked before the insert: the insert's own key-share lock on the user's row would make
        # two of these deadlock on PostgreSQL.
        lock_user(row.user_id if row.user_id is not None else row.user.id)
    db.session.flush()
    kind = type(row)
    if db.session.scalar(sa.select(sa.func.count()).where(kind.user_id == row.user_id)) > limit:
        db.session.rollback()
        return False
    db.session.commit()
    return True


def used_bytes(user_id: int) -> int:
    """Bytes of every file the user owns, summed from the file rows."""
    return int(db.session.scalar(used_query(user_id)))


def used_query(user_id: int) -> sa.Select:
    return (
        sa.select(sa.func.coalesce(sa.func.sum(MediaFile.size), 0))
        .join(Item, MediaFile.item_id == Item.id)
        .where(Item.user_id == user_id)
    )


class Item(db.Model):
    id: Mapped[str] = mapped_column(sa.String(16), primary_key=True, default=new_item_id)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"), index=True)
    # The uploaded file's name, kept only as display text.
    title: Mapped[str] = mapped_column(sa.String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    kind: Mapped[str | None] = mapped_column(sa.String(8))  # "video" or "audio", once probed
    duration: Mapped[float | None]
    info: Mapped[dict | None] = mapped_column(sa.JSON)
    # The batch it was uploaded with (several files sent at once share one), chosen by the client.
    batch: Mapped[str | None] = mapped_column(sa.String(32), index=True)

    user: Mapped[User] = relationship(back_populates="items")
    files: Mapped[list["MediaFile"]] = relationship(
        back_populates="item", cascade="all, delete-orphan", order_by="MediaFile.id"
    )
    tasks: Mapped[list["Task"]] = relationship(
        back_populates="item", cascade="all, delete-orphan", order_by="Task.id"
    )
    edit: Mapped["Edit | None"] = relationship(back_populates="item", cascade="all, delete-orphan")

    def file(self, role: str) -> "MediaFile | None":
        return next((f for f in self.files if f.role == role), None)

    @property
    def working_file(self) -> "MediaFile | None":
        """What the jobs after sync work on: the synced file when there is one, else the original."""
        return self.file("synced") or self.file("original")

    def playable(self, role: str) -> "MediaFile | None":
        """What the players show for `role`: its browser preview (jobs.proxy) when it has one."""
        return self.file(f"{role}_proxy") or self.file(role)

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def current_tasks(self) -> list["Task"]:
        """The latest task of each kind: what "Run again" replaced is history."""
        latest = {t.kind: t for t in self.tasks}
        return sorted(latest.values(), key=lambda t: t.id)

    def result(self, kind: str) -> dict | None:
        """The figures of the latest finished task of `kind`."""
        done = [t for t in self.tasks if t.kind == kind and t.status == Task.DONE]
        return done[-1].result if done else None

    @property
    def busy(self) -> bool:
        return any(t.status in Task.ACTIVE for t in self.tasks)


class MediaFile(db.Model):
    """One file on disk under MEDIA_ROOT/<user id>/<item id>/, counted against the owner's quota."""

    # What the person uploaded, and the previews made from it on arrival (which "Run again" does
    # not remake, so they live as long as the original); every other role is a job's result, the
    # browser previews of results too ("cut_proxy"), as they go when their results go.
    ORIGINALS = ("original", "external")
    PREVIEWS = ("poster", "waveform", "original_proxy")

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[str] = mapped_column(sa.ForeignKey("item.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(sa.String(32))  # original, external, poster, waveform, ...
    name: Mapped[str] = mapped_column(sa.String(64))  # server-chosen file name
    size: Mapped[int] = mapped_column(sa.BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # What the content is: the SHA-256 of an upload, or the input key of the task that made an
    # output. Equal keys mean equal content, which is what lets a result be reused.
    content_key: Mapped[str | None] = mapped_column(sa.String(64), index=True)

    item: Mapped[Item] = relationship(back_populates="files")

    @property
    def category(self) -> str:
        """Which of originals, previews or results it counts as (account page, retention)."""
        return category(self.role)

    __table_args__ = (sa.UniqueConstraint("item_id", "name"), NEVER_REUSE_IDS)


def category(role: str) -> str:
    if role in MediaFile.ORIGINALS:
        return "originals"
    return "previews" if role in MediaFile.PREVIEWS else "results"


class Task(db.Model):
    """One job on an item. The row, not RQ, holds the final state: RQ forgets results."""

    QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
    ACTIVE = (QUEUED, RUNNING)
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[str] = mapped_column(sa.ForeignKey("item.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(32))
    queue: Mapped[str] = mapped_column(sa.String(32))
    rq_job_id: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    status: Mapped[str] = mapped_column(sa.String(16), default=QUEUED)
    params: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    result: Mapped[dict | None] = mapped_column(sa.JSON)
    error: Mapped[str | None] = mapped_column(sa.Text)  # the human reason, shown to the owner
    after: Mapped[list] = mapped_column(sa.JSON, default=list)  # ids of the tasks this one waits for
    enqueued_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    # Timings: waiting since it could run, running, and media seconds per second of work.
    wait_seconds: Mapped[float | None]
    run_seconds: Mapped[float | None]
    realtime_factor: Mapped[float | None]
    attempts: Mapped[int] = mapped_column(default=0)  # starts, counting those a lost worker cut short
    # The hash of kind, parameters and input contents; a done task with the same key (same
    # user) has outputs this one can take instead of running again.
    input_key: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    outputs: Mapped[list] = mapped_column(sa.JSON, default=list)  # roles of the files it made
    # The task whose result this one took. Not a foreign key: that task's item may be deleted
    # later, and this one keeps its own copy of the files.
    reused_from: Mapped[int | None]

    item: Mapped[Item] = relationship(back_populates="tasks")

    @property
    def reused_source(self) -> "Task | None":
        """The task whose result this one reused, while it still exists."""
        return db.session.get(Task, self.reused_from) if self.reused_from else None


class Edit(db.Model):
    """An item's edit: the ranges of its recording that are kept (jobs/edit.py), as decided by
    silence removal, accepted suggestions and the person in the editor. Nothing is rendered to
    change it; `version` grows with every change, so a stale tab's save is refused (409) and a
    render or export says which version it made."""

    item_id: Mapped[str] = mapped_column(sa.ForeignKey("item.id", ondelete="CASCADE"), primary_key=True)
    version: Mapped[int] = mapped_column(default=1)
    keep: Mapped[list] = mapped_column(sa.JSON)  # [[start, end], ...] seconds of the source
    automatic: Mapped[list] = mapped_column(sa.JSON)  # the cut silence removal made: "Reset" returns to it
    duration: Mapped[float]  # of the recording it cuts (the synced one when sync ran)
    fade: Mapped[float] = mapped_column(default=0.008)  # seconds of audio fade at each join
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    item: Mapped[Item] = relationship(back_populates="edit")


class TusUpload(db.Model):
    """A resumable upload (tus) still arriving: its bytes so far are the partial file in the folder
    of the item it will become (webapp/tus.py), its space is held by a Reservation of its length."""

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"), index=True)
    item_id: Mapped[str] = mapped_column(sa.String(16))  # its folder now, the item's id once complete
    length: Mapped[int] = mapped_column(sa.BigInteger)
    filename: Mapped[str] = mapped_column(sa.String(255))
    metadata_header: Mapped[str] = mapped_column(sa.Text)  # Upload-Metadata as sent, for HEAD
    choices: Mapped[dict] = mapped_column(sa.JSON)  # {kind: params}, as webapp.kinds.plan takes them
    batch: Mapped[str | None] = mapped_column(sa.String(32))
    reservation_id: Mapped[str] = mapped_column(sa.String(32))
    # Moved on by every PATCH: an upload nobody sends to for this long is abandoned.
    expires_at: Mapped[datetime] = mapped_column(index=True)


class Reservation(db.Model):
    """Space held in a user's quota for an upload still arriving (see webapp/quota.py).

    It expires unless renewed, so a process that dies mid-upload does not hold the space for good.
    """

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"), index=True)
    size: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class Webhook(db.Model):
    """A URL of the user's that Cutroom calls when their work ends (webapp/webhooks/)."""

    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(sa.String(2000))
    # Standard Webhooks form, "whsec_" + base64 of the key: the receiver needs it to check signatures.
    secret: Mapped[str] = mapped_column(sa.String(100))
    events: Mapped[list] = mapped_column(sa.JSON)  # of webapp.webhooks.EVENTS
    enabled: Mapped[bool] = mapped_column(default=True)
    # Why Cutroom turned it off (the receiver answered 410 Gone), shown on the account page.
    disabled_reason: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship(back_populates="webhooks")
    deliveries: Mapped[list["WebhookDelivery"]] = relationship(
        back_populates="webhook", cascade="all, delete-orphan", passive_deletes=True
    )


class WebhookDelivery(db.Model):
    """One event for one webhook, and how sending it went. The row is the truth: the RQ job that
    sends it only carries its id, and one that got lost is sent again (webapp/webhooks/delivery.py)."""

    PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    webhook_id: Mapped[int] = mapped_column(sa.ForeignKey("webhook.id", ondelete="CASCADE"), index=True)
    # The `webhook-id` header: the same on every attempt, so the receiver can drop a repeat.
    message_id: Mapped[str] = mapped_column(sa.String(40), unique=True)
    event: Mapped[str] = mapped_column(sa.String(32))
    body: Mapped[str] = mapped_column(sa.Text)  # the JSON sent, byte for byte what is signed
    status: Mapped[str] = mapped_column(sa.String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    # What each attempt got: a status code ("500") or what went wrong ("timed out").
    outcomes: Mapped[list] = mapped_column(sa.JSON, default=list)
    status_code: Mapped[int | None]  # of the last attempt that got an answer
    error: Mapped[str | None] = mapped_column(sa.String(255))  # of the last attempt, if it failed
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    last_attempt_at: Mapped[datetime | None]
    # While pending: when the next attempt is due (or, during one, when it is taken for lost).
    next_try_at: Mapped[datetime | None] = mapped_column(index=True)

    webhook: Mapped[Webhook] = relationship(back_populates="deliveries")
