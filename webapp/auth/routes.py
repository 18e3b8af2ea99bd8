"""Routes of the accounts area: sign up, confirm the address, log in and out, reset the password.

Nothing here tells a visitor whether an address has an account: sign-up and reset answer
the same way for both, and a wrong password reads like an unknown address.
"""

import math
import secrets
from functools import cache
from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from webapp import db
from webapp.auth import bp, tokens
from webapp.auth.forms import ButtonForm, LoginForm, ResetPasswordForm, ResetRequestForm, SignupForm
from webapp.helpers import plural
from webapp.mail import mail_link, send_mail
from webapp.models import LoginSession, User, utcnow
from webapp.ratelimit import Limit, count, forget, take, wait_for

WRONG_LOGIN = "Wrong email or password."
DISABLED_LOGIN = "This account is disabled; contact the operator."


MINUTE, HOUR, DAY = 60, 3600, 24 * 3600
# Wrong passwords lock out the address that sent them, not the account's owner elsewhere; an attack
# from many addresses meets the slower limit per account, which locks every address.
LOGIN_PER_ACCOUNT_AND_ADDRESS = (Limit("login-fail-account-address", 5, 15 * MINUTE),)
LOGIN_PER_ACCOUNT = (Limit("login-fail-account", 50, HOUR),)
LOGIN_PER_ADDRESS = (Limit("login-fail-address", 20, 15 * MINUTE),)
CONFIRM_MAILS = (Limit("confirm-mail-minute", 1, MINUTE), Limit("confirm-mail-day", 5, DAY))
SIGNUP_NOTICES = (Limit("signup-notice-minute", 1, MINUTE), Limit("signup-notice-day", 5, DAY))
SIGNUPS_PER_ADDRESS = (Limit("signup-address", 10, HOUR),)
RESET_MAILS = (Limit("reset-mail", 3, HOUR),)


def in_words(seconds: int) -> str:
    if seconds < MINUTE:
        n, unit = seconds, "second"
    elif seconds < 2 * HOUR:
        n, unit = math.ceil(seconds / MINUTE), "minute"
    else:
        n, unit = math.ceil(seconds / HOUR), "hour"
    return plural(n, unit)


def too_many(message: str, wait: int, offer_reset: bool = False):
    body = render_template("auth/rate_limited.html", message=message, offer_reset=offer_reset)
    return body, 429, {"Retry-After": str(wait)}


def client_address() -> str:
    # remote_addr is the proxy's unless TRUSTED_PROXIES makes ProxyFix take it from X-Forwarded-For.
    return request.remote_addr or "unknown"


def _account_and_address(email: str, address: str) -> str:
    return f"{email}\n{address}"


def password_wait(email: str, address: str) -> int:
    """Seconds before `address` may try a password for the account `email` again; 0 when it may now."""
    return max(
        wait_for(LOGIN_PER_ACCOUNT_AND_ADDRESS, _account_and_address(email, address)),
        wait_for(LOGIN_PER_ACCOUNT, email),
    )


def count_wrong_password(email: str, address: str) -> None:
    count(LOGIN_PER_ACCOUNT_AND_ADDRESS, _account_and_address(email, address))
    count(LOGIN_PER_ACCOUNT, email)


def forget_wrong_passwords(email: str, address: str, everywhere: bool = False) -> None:
    """Clear the count of `address` for the account (and the account's own with `everywhere`)."""
    forget(LOGIN_PER_ACCOUNT_AND_ADDRESS, _account_and_address(email, address))
    if everywhere:
        forget(LOGIN_PER_ACCOUNT, email)


def find_user(email: str) -> User | None:
    return db.session.scalar(db.select(User).filter_by(email=email))


@cache
def _dummy_hash() -> str:
    return generate_password_hash(secrets.token_urlsafe(16), method="scrypt")


def password_matches(user: User | None, password: str) -> bool:
    """Check the password; for no user, check a dummy hash so both take the same time."""
    if user is None:
        check_password_hash(_dummy_hash(), password)
        return False
    return user.check_password(password)


def safe_next(target: str | None) -> str | None:
    """`target` if it is a path on this site, else None: never send someone elsewhere."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    # Browsers read "\" as "/" and drop tabs and newlines, so "/\evil" or "/\t/evil" lead away.
    if "\\" in target or any(ord(c) < 0x21 or ord(c) == 0x7F for c in target):
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else None


def start_session(user: User, remember: bool) -> None:
    """Log `user` in on a fresh session: nothing of the earlier session is kept (no fixation).

    Each login gets its own row, whose token both cookies carry, so it can be ended on its own.
    """
    session.clear()
    user.current_login = LoginSession.begin(user, remember, request.user_agent.string or "", client_address())
    db.session.commit()
    login_user(user, remember=remember)


def end_session(everywhere: bool = False) -> None:
    """Log out this browser: its login row goes, so copies of its cookies stop working too; with
    `everywhere`, every login of the account goes."""
    if current_user.is_authenticated:
        user = current_user._get_current_object()
        if everywhere:
            user.end_logins()
        else:
            user.logins.remove(user.current_login)
        db.session.commit()
    # Clear first: logout_user() leaves the note that makes Flask-Login delete the remember cookie.
    session.clear()
    logout_user()


def send_confirmation(user: User) -> None:
    count(CONFIRM_MAILS, str(user.id))
    user.confirmation_sent_at = utcnow()
    db.session.commit()
    link = mail_link("auth.confirm", token=tokens.confirmation_token(user))
    send_mail(user.email, "Confirm your email address for Cutroom", "confirm", link=link)


def send_signup_notice(user: User) -> None:
    """Tell the owner of an existing account that someone tried to sign up with their address."""
    if take(SIGNUP_NOTICES, str(user.id)):
        return
    send_mail(
        user.email,
        "You already have a Cutroom account",
        "already_registered",
        login_link=mail_link("auth.login"),
        reset_link=mail_link("auth.reset_request"),
    )


@bp.route("/signup", methods=["GET", "POST"])
def signup():
    form = SignupForm()
    if not form.validate_on_submit():
        return render_template("auth/signup.html", form=form), 400 if request.method == "POST" else 200
    wait = take(SIGNUPS_PER_ADDRESS, client_address())
    if wait:
        return too_many(f"Too many sign-ups from your network. Try again in {in_words(wait)}.", wait)

    email = form.email.data
    user = find_user(email)
    if user is None:
        user = User(email=email)
        user.set_password(form.password.data)
        db.session.add(user)
        try:
            db.session.flush()
        except IntegrityError:  # the same address signed up at the same moment
            db.session.rollback()
        else:
            send_confirmation(user)  # commits the new user with the time of sending
    else:
        # Hash anyway so an existing address answers in the same time as a new one.
        generate_password_hash(form.password.data, method="scrypt")
        send_signup_notice(user)
    # Same page either way, and no automatic login: both would tell who has an account.
    return render_template("auth/check_inbox.html", email=email)


@bp.get("/confirm/<token>")
def confirm(token):
    expired, invalid, user = tokens.verify_confirmation(token)
    if invalid:
        return render_template("auth/link_problem.html", kind="confirm", expired=False), 400
    if user.confirmed:
        # Confirming twice, or an old link after confirming, is harmless.
        flash("Your email address is already confirmed.", "info")
    elif expired:
        return render_template("auth/link_problem.html", kind="confirm", expired=True), 410
    else:
        user.confirmed_at = utcnow()
        db.session.commit()
        flash("Thank you, your email address is confirmed.", "success")
    return redirect(url_for("videos.index" if current_user.is_authenticated else "auth.login"))


@bp.route("/confirm/resend", methods=["GET", "POST"])
@login_required
def resend_confirmation():
    if current_user.confirmed:
        flash("Your email address is already confirmed.", "info")
        return redirect(url_for("videos.index"))
    form = ButtonForm()
    if form.validate_on_submit():
        wait = wait_for(CONFIRM_MAILS, str(current_user.id))
        if wait:
            return too_many(
                f"We sent a confirmation link a short while ago. Check your inbox (and spam folder), "
                f"or ask for another link in {in_words(wait)}.",
                wait,
            )
        send_confirmation(current_user)
        flash(f"We sent a new confirmation link to {current_user.email}.", "success")
        return redirect(url_for("auth.resend_confirmation"))
    return render_template("auth/resend.html", form=form)


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if not form.validate_on_submit():
        return render_template("auth/login.html", form=form), 400 if request.method == "POST" else 200
    email, address = form.email.data, client_address()
    # Checked before the password, so a locked account answers the same whether it exists or not.
    wait = max(password_wait(email, address), wait_for(LOGIN_PER_ADDRESS, address))
    if wait:
        message = f"Too many failed attempts to log in. Try again in {in_words(wait)}."
        return too_many(message, wait, offer_reset=True)

    user = find_user(email)
    if not password_matches(user, form.password.data):
        count_wrong_password(email, address)
        count(LOGIN_PER_ADDRESS, address)
        form.form_errors.append(WRONG_LOGIN)
        return render_template("auth/login.html", form=form), 401

    if user.disabled:
        # Only after the right password, so it tells nothing to someone guessing.
        form.form_errors.append(DISABLED_LOGIN)
        return render_template("auth/login.html", form=form), 403
    forget_wrong_passwords(email, address)
    start_session(user, remember=form.remember.data)
    flash("You are logged in.", "success")
    return redirect(safe_next(request.args.get("next")) or url_for("videos.index"))


@bp.route("/logout", methods=["GET", "POST"])
def logout():
    if request.method == "GET":
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login"))
        return render_template("auth/logout.html", form=ButtonForm())
    end_session()
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/reset", methods=["GET", "POST"])
def reset_request():
    form = ResetRequestForm()
    if not form.validate_on_submit():
        status = 400 if request.method == "POST" else 200
        return render_template("auth/reset_request.html", form=form), status
    email = form.email.data
    # Limited per typed address, known or not; over the limit we silently send nothing.
    if not take(RESET_MAILS, email):
        user = find_user(email)
        if user is not None:
            link = mail_link("auth.reset_password", token=tokens.reset_token(user))
            send_mail(user.email, "Reset your Cutroom password", "reset_password", link=link)
    return render_template("auth/reset_sent.html", email=email)


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset_password(token):
    expired, invalid, user = tokens.verify_reset(token)
    if invalid:
        return render_template("auth/link_problem.html", kind="reset", expired=False), 400
    if expired:
        return render_template("auth/link_problem.html", kind="reset", expired=True), 410
    form = ResetPasswordForm()
    if not form.validate_on_submit():
        status = 400 if request.method == "POST" else 200
        return render_template("auth/reset_password.html", form=form, email=user.email), status
    # set_password ends every login: every session and remember-me cookie dies.
    user.set_password(form.password.data)
    if not user.confirmed:
        user.confirmed_at = utcnow()  # the link reached them, so the mailbox is theirs
    db.session.commit()
    # The link proved the mailbox: the owner may log in at once, wherever the wrong guesses came from.
    forget_wrong_passwords(user.email, client_address(), everywhere=True)
    flash("Your password is changed. Log in with the new one.", "success")
    return redirect(url_for("auth.login"))
