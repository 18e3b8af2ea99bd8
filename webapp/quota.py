"""A user's space: what their files take, what uploads still arriving hold, and what is left.

Uploads, "Run again" and jobs all go by `space_left`. An upload reserves space before it stores
the bytes, in chunks as they arrive. A reservation is granted only when the user's files and
reservations, counted in the same statement, leave room for it, and concurrent reservations of one
user take turns (the user's row is locked first on PostgreSQL; SQLite runs one writer at a time),
so however many uploads run at once, their sum cannot pass the quota. Reservations expire unless
renewed, so a process that dies mid-upload does not hold the space for good.
"""

import secrets
import time
from datetime import timedelta

import sqlalchemy as sa

from webapp import db
from webapp.disk import preview_bytes
from webapp.kinds import KINDS
from webapp.models import Item, MediaFile, Reservation, Task, lock_user, used_bytes, used_query, utcnow

RESERVATION_TTL = timedelta(minutes=10)
# Space is reserved this far ahead of the bytes that arrive, so a stream costs few transactions.
RESERVE_AHEAD = 16 * 1024 * 1024


def biggest_items(user_id: int, limit: int) -> list[tuple[Item, int]]:
    """The user's items that take the most space, with their bytes, biggest first."""
    sizes = (
        sa.select(MediaFile.item_id, sa.func.sum(MediaFile.size).label("size"))
        .group_by(MediaFile.item_id)
        .subquery()
    )
    return db.session.execute(
        sa.select(Item, sizes.c.size)
        .join(sizes, sizes.c.item_id == Item.id)
        .where(Item.user_id == user_id)
        .order_by(sizes.c.size.desc(), Item.created_at.desc())
        .limit(limit)
    ).all()


def space_left(user) -> int:
    """Bytes the user may still store: the quota less their files and the uploads arriving."""
    return max(user.quota - db.session.scalar(sa.select(_taken(user.id))), 0)


def _taken(user_id: int):
    """The bytes of the user's files and live reservations, as one SQL expression."""
    reserved = sa.select(sa.func.coalesce(sa.func.sum(Reservation.size), 0)).where(
        Reservation.user_id == user_id, Reservation.expires_at > utcnow()
    )
    return used_query(user_id).scalar_subquery() + reserved.scalar_subquery()


class UploadSpace:
    """The space one upload holds in its user's quota, grown as its bytes arrive.

    `ttl`: how long it lasts unless renewed (a resumable upload's lasts as long as the upload may pause).
    """

    def __init__(self, user, ttl: timedelta = RESERVATION_TTL):
        self.user_id, self.quota, self.ttl = user.id, user.quota, ttl
        self.id, self.held = secrets.token_hex(16), 0
        now = utcnow()
        db.session.execute(sa.delete(Reservation).where(Reservation.expires_at <= now))
        db.session.add(Reservation(id=self.id, user_id=self.user_id, size=0, expires_at=now + ttl))
        db.session.commit()
        self.renewed = time.monotonic()

    def cover(self, total: int) -> bool:
        """Hold at least `total` bytes; False when the user's space has no room for them."""
        if total > self.held:
            return self._reserve(total - self.held)
        if time.monotonic() - self.renewed > self.ttl.total_seconds() / 3:
            self._update(Reservation.size)  # still arriving: keep it from expiring
        return True

    def _reserve(self, wanted: int) -> bool:
        """Reserve `wanted` more bytes, and RESERVE_AHEAD more when they fit too."""
        # Reservations of this user wait here for each other; the statement below, started after
        # the wait, then sees every one committed before it.
        lock_user(self.user_id)
        taken = _taken(self.user_id)
        grant = sa.case((taken + wanted + RESERVE_AHEAD <= self.quota, wanted + RESERVE_AHEAD), else_=wanted)
        return self._update(Reservation.size + grant, taken + wanted <= self.quota)

    def _update(self, size, *conditions) -> bool:
        held = db.session.execute(
            sa.update(Reservation)
            .where(Reservation.id == self.id, *conditions)
            .values(size=size, expires_at=utcnow() + self.ttl)
            .returning(Reservation.size)
        ).scalar()
        db.session.commit()
        if held is None:
            return False
        self.held, self.renewed = held, time.monotonic()
        return True

    def release(self) -> None:
        """Give the space back: once the upload's file rows are committed, or it was refused."""
        db.session.rollback()  # whatever the request left unfinished is not ours to commit
        db.session.execute(sa.delete(Reservation).where(Reservation.id == self.id))
        db.session.commit()
        self.held = 0


# --- jobs ----------------------------------------------------------------------------------


def task_outputs_estimate(task: Task) -> int:
    """Bytes the outputs of `task` will add, estimated from its input (as the free-disk check
    does), less the outputs of its last run that they replace."""
    item = task.item
    source = item.working_file
    new = KINDS[task.kind].keeps * (source.size if source else 0) + preview_bytes(task)
    earlier = [t for t in item.tasks if t.kind == task.kind and t.status == Task.DONE]
    replaced = sum(f.size for f in item.files if earlier and f.role in earlier[-1].outputs)
    return max(new - replaced, 0)


def check_space_for_task(task: Task) -> None:
    """Fail `task` before it starts when the user's space is full or its outputs would not fit."""
    from jobs.errors import MediaError
    from webapp.helpers import filesize

    user = task.item.user
    left, needed = space_left(user), task_outputs_estimate(task)
    if left <= 0:
        raise MediaError(space_full_message(user, "this job was not started", "use “Run again”"))
    if needed > left:
        raise MediaError(
            f"This job was not started: its results would take about {filesize(needed)}, and you have "
            f"{filesize(left)} left of {filesize(user.quota)}. Delete items you no longer need, then "
            "use “Run again”."
        )


def space_full_message(user, refused: str, then: str = "try again") -> str:
    from webapp.helpers import filesize

    return (
        f"Your space is full ({filesize(used_bytes(user.id))} used of {filesize(user.quota)}), so "
        f"{refused}. Delete items you no longer need, then {then}."
    )
