"""Routes of the account page: usage against quota and password change."""

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from webapp import db
from webapp.account import bp
from webapp.account.forms import ChangePasswordForm
from webapp.auth.routes import LOGIN_PER_ACCOUNT, count, in_words, start_session, too_many, wait_for


def _page(form: ChangePasswordForm, status: int = 200):
    return render_template("account/index.html", form=form), status


@bp.get("/account")
@login_required
def index():
    return _page(ChangePasswordForm())


@bp.post("/account/password")
@login_required
def change_password():
    form = ChangePasswordForm()
    if not form.validate_on_submit():
        return _page(form, 400)
    user = current_user._get_current_object()
    # Wrong guesses here count with failed logins, so a borrowed session can't brute-force the password.
    wait = wait_for(LOGIN_PER_ACCOUNT, user.email)
    if wait:
        return too_many(f"Too many wrong passwords. Try again in {in_words(wait)}.", wait, offer_reset=True)
    if not user.check_password(form.current_password.data):
        count(LOGIN_PER_ACCOUNT, user.email)
        form.current_password.errors.append("That is not your current password.")
        return _page(form, 400)

    # A new session token logs out every other session and remember-me cookie; this one
    # starts afresh, keeping remember-me if it had it.
    remembered = current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token") in request.cookies
    user.set_password(form.new_password.data)
    db.session.commit()
    start_session(user, remember=remembered)
    flash("Your password is changed. Every other session has been logged out.", "success")
    return redirect(url_for("account.index"))
