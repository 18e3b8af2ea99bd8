"""Routes of the admin page: every user with their usage, and forms to set a quota or disable an account."""

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user

from webapp import db
from webapp.admin import bp
from webapp.admin.forms import AccessForm, QuotaForm, size_text
from webapp.helpers import filesize
from webapp.models import Item, MediaFile, User


def user_rows() -> list[dict]:
    """Every user with their item count and bytes used, in two grouped queries rather than one per user."""
    items = dict(
        db.session.execute(sa.select(Item.user_id, sa.func.count(Item.id)).group_by(Item.user_id)).all()
    )
    used = dict(
        db.session.execute(
            sa.select(Item.user_id, sa.func.sum(MediaFile.size))
            .join(MediaFile, MediaFile.item_id == Item.id)
            .group_by(Item.user_id)
        ).all()
    )
    users = db.session.scalars(sa.select(User).order_by(User.created_at, User.id)).all()
    return [
        {
            "user": u,
            "items": items.get(u.id, 0),
            "used": int(used.get(u.id) or 0),
            "quota_text": "" if u.quota_bytes is None else size_text(u.quota_bytes),
        }
        for u in users
    ]


def _page(quota_form: QuotaForm | None = None, status: int = 200):
    return render_template(
        "admin/index.html",
        rows=user_rows(),
        quota_form=quota_form or QuotaForm(formdata=None),
        access_form=AccessForm(),
    ), status


def _user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    return user


@bp.get("/admin")
def index():
    return _page()


@bp.post("/admin/users/<int:user_id>/quota")
def set_quota(user_id):
    user = _user(user_id)
    form = QuotaForm()
    if not form.validate_on_submit():
        for error in form.quota.errors:
            flash(f"{user.email}: {error}", "error")
        return _page(form, 400)
    user.quota_bytes = form.quota.bytes
    db.session.commit()
    flash(f"{user.email} may now store {filesize(user.quota)}.", "success")
    return redirect(url_for("admin.index"), code=303)


@bp.post("/admin/users/<int:user_id>/disable")
def disable(user_id):
    user = _user(user_id)
    AccessForm().validate_on_submit()  # CSRFProtect has already checked the token
    if user.id == current_user.id:
        flash("You cannot disable your own account.", "error")
        return _page(status=400)
    user.disabled = True
    # Their logins end for good, even if the account is enabled again.
    user.end_logins()
    db.session.commit()
    flash(f"{user.email} is disabled and logged out everywhere.", "success")
    return redirect(url_for("admin.index"), code=303)


@bp.post("/admin/users/<int:user_id>/enable")
def enable(user_id):
    user = _user(user_id)
    AccessForm().validate_on_submit()
    user.disabled = False
    db.session.commit()
    flash(f"{user.email} can log in again.", "success")
    return redirect(url_for("admin.index"), code=303)
