"""Routes of the account page: usage against quota and what takes it, password change, webhooks,
account deletion."""

from functools import partial

import sqlalchemy as sa
from flask import abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, logout_user

from webapp import db, webhooks
from webapp.account import bp
from webapp.account.forms import ChangePasswordForm, DeleteAccountForm, TokenForm, WebhookForm
from webapp.auth.forms import ButtonForm
from webapp.auth.routes import (
    client_address,
    count_wrong_password,
    end_session,
    in_words,
    password_wait,
    start_session,
    too_many,
)
from webapp.helpers import filesize, plural
from webapp.models import ApiToken, Item, MediaFile, Webhook, category
from webapp.pipeline import cancel_jobs
from webapp.quota import biggest_items
from webapp.storage import remove_user_dir
from webapp.webhooks import InvalidWebhook
from webapp.webhooks.events import EVENTS

BIGGEST_ITEMS = 5


# The page shows webhook secrets, and once a new token: no cache along the way may keep a copy.
NO_STORE = {"Cache-Control": "no-store"}


def _page(
    form: ChangePasswordForm | None = None,
    delete_form: DeleteAccountForm | None = None,
    token_form: TokenForm | None = None,
    new_token: ApiToken | None = None,
    webhook_form: WebhookForm | None = None,
    edited: Webhook | None = None,
    status=200,
):
    """The account page; a form given (with its errors) is shown instead of a blank one: the
    `webhook_form` adds a webhook, or changes the webhook `edited`; `new_token` was just made."""
    edit_forms = {hook.id: _edit_form(hook) for hook in current_user.webhooks}
    if edited is not None:
        edit_forms[edited.id], webhook_form = webhook_form, None
    return (
        render_template(
            "account/index.html",
            form=form or ChangePasswordForm(formdata=None),
            delete_form=delete_form or DeleteAccountForm(formdata=None),
            logout_form=ButtonForm(formdata=None),
            token_form=token_form or TokenForm(formdata=None),
            new_token=new_token,
            webhook_form=webhook_form or WebhookForm(formdata=None),
            webhook_forms=[(hook, edit_forms[hook.id]) for hook in current_user.webhooks],
            deliveries=webhooks.recent_deliveries(current_user),
            events=EVENTS,
            **space_taken(current_user.id),
        ),
        status,
        NO_STORE,
    )


def _edit_form(hook: Webhook, formdata=None) -> WebhookForm:
    """The form that changes `hook`: its fields named apart from every other form on the page."""
    return WebhookForm(formdata=formdata, prefix=f"hook-{hook.id}", obj=hook)


def space_taken(user_id: int) -> dict:
    """What takes the space: bytes of originals, results and previews, and the biggest items."""
    split = {"originals": 0, "results": 0, "previews": 0}
    by_role = (
        sa.select(MediaFile.role, sa.func.sum(MediaFile.size))
        .join(Item, MediaFile.item_id == Item.id)
        .where(Item.user_id == user_id)
        .group_by(MediaFile.role)
    )
    for role, size in db.session.execute(by_role):
        split[category(role)] += int(size or 0)
    return {"split": split, "biggest": biggest_items(user_id, BIGGEST_ITEMS)}


def _refuse_wrong_password(user, field, message: str, page):
    """None when `field` holds the user's password; else the answer to send: the rate-limit page,
    or `page()` with `message` on the field.

    Wrong guesses here count with failed logins, so a borrowed session can't brute-force the password.
    """
    wait = password_wait(user.email, client_address())
    if wait:
        return too_many(f"Too many wrong passwords. Try again in {in_words(wait)}.", wait, offer_reset=True)
    if user.check_password(field.data):
        return None
    count_wrong_password(user.email, client_address())
    field.errors.append(message)
    return page()


@bp.get("/account")
@login_required
def index():
    return _page()


@bp.post("/account/password")
@login_required
def change_password():
    form = ChangePasswordForm()
    if not form.validate_on_submit():
        return _page(form, status=400)
    user = current_user._get_current_object()
    again = partial(_page, form, status=400)
    if refusal := _refuse_wrong_password(
        user, form.current_password, "That is not your current password.", again
    ):
        return refusal

    # set_password ends every login, so every other session and remember-me cookie is logged out;
    # this one starts afresh, keeping remember-me if it had it.
    remembered = current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token") in request.cookies
    user.set_password(form.new_password.data)
    db.session.commit()
    start_session(user, remember=remembered)
    flash("Your password is changed. Every other session has been logged out.", "success")
    return redirect(url_for("account.index"))


@bp.post("/account/delete")
@login_required
def delete():
    """Delete the account and everything of it: jobs stopped, rows and the whole media folder gone."""
    form = DeleteAccountForm()
    if not form.validate_on_submit():
        return _page(delete_form=form, status=400)
    user = current_user._get_current_object()
    again = partial(_page, delete_form=form, status=400)
    if refusal := _refuse_wrong_password(
        user, form.password, "That is not your password. Nothing was deleted.", again
    ):
        return refusal

    user_id, email, items, used = user.id, user.email, len(user.items), user.used_bytes
    cancel_jobs([task for item in user.items for task in item.tasks])
    db.session.delete(user)  # its items, files and tasks go with it
    db.session.commit()
    remove_user_dir(user_id)
    # Its logins went with it. Clear first: logout_user() leaves the note that makes Flask-Login
    # delete the remember cookie.
    session.clear()
    logout_user()
    flash(
        f"Your account {email} and everything in it ({plural(items, 'item')}, "
        f"{filesize(used)}) are deleted. Nothing of it is kept.",
        "success",
    )
    return redirect(url_for("auth.login"), code=303)


@bp.post("/account/logout-everywhere")
@login_required
def logout_everywhere():
    ButtonForm().validate_on_submit()  # CSRFProtect has already checked the token
    end_session(everywhere=True)
    flash("You are logged out everywhere: on this device and every other.", "info")
    return redirect(url_for("auth.login"), code=303)


@bp.post("/account/tokens")
@login_required
def create_token():
    """Make a personal access token and show it, this once: only its hash is kept."""
    form = TokenForm()
    if not form.validate_on_submit():
        return _page(token_form=form, status=400)
    user = current_user._get_current_object()
    token = ApiToken.issue(user, form.name.data, form.scope.data, form.expires_days.data)
    if token is None:
        form.name.errors = [*form.name.errors, ApiToken.TOO_MANY]
        return _page(token_form=form, status=400)
    # The page itself shows it, never a flash message: that would keep it in the session cookie.
    return _page(new_token=token, status=201)


@bp.post("/account/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id):
    token = db.session.get(ApiToken, token_id)
    if token is None or token.user_id != current_user.id:
        abort(404)
    ButtonForm().validate_on_submit()  # CSRFProtect has already checked the token
    name = token.name
    db.session.delete(token)
    db.session.commit()
    flash(f"The token “{name}” is revoked: scripts using it are refused from now on.", "success")
    return redirect(url_for("account.index", _anchor="tokens"), code=303)


@bp.post("/account/webhooks")
@login_required
def add_webhook():
    form = WebhookForm()
    if form.validate_on_submit():
        try:
            webhooks.create(
                current_user._get_current_object(), form.url.data, form.events.data, form.enabled.data
            )
        except InvalidWebhook as refusal:
            form.show_refusal(refusal)
        else:
            flash(
                "Webhook added. Give its secret (below) to your receiver to check the signatures.", "success"
            )
            return redirect(url_for("account.index", _anchor="webhooks"), code=303)
    return _page(webhook_form=form, status=400)


@bp.post("/account/webhooks/<int:webhook_id>")
@login_required
def edit_webhook(webhook_id: int):
    hook = webhooks.owned_webhook(current_user, webhook_id)
    form = _edit_form(hook, request.form)
    if form.validate_on_submit():
        try:
            webhooks.update(hook, form.url.data, form.events.data, form.enabled.data)
        except InvalidWebhook as refusal:
            form.show_refusal(refusal)
        else:
            flash("Webhook saved.", "success")
            return redirect(url_for("account.index", _anchor=f"webhook-{hook.id}"), code=303)
    return _page(webhook_form=form, edited=hook, status=400)


@bp.post("/account/webhooks/<int:webhook_id>/test")
@login_required
def test_webhook(webhook_id: int):
    hook = webhooks.owned_webhook(current_user, webhook_id)
    ButtonForm().validate_on_submit()  # CSRFProtect has already checked the token
    try:
        delivery = webhooks.send_test(hook)
    except webhooks.TooSoon as refusal:
        return too_many(str(refusal), refusal.wait)
    flash(f"Test event {delivery.message_id} queued; its result shows in Recent deliveries.", "info")
    return redirect(url_for("account.index", _anchor="deliveries"), code=303)


@bp.post("/account/webhooks/<int:webhook_id>/delete")
@login_required
def delete_webhook(webhook_id: int):
    hook = webhooks.owned_webhook(current_user, webhook_id)
    ButtonForm().validate_on_submit()  # CSRFProtect has already checked the token
    url = hook.url
    webhooks.delete(hook)
    flash(f"Webhook {url} deleted, with its deliveries.", "success")
    return redirect(url_for("account.index", _anchor="webhooks"), code=303)
