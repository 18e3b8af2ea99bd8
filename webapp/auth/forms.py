"""Forms of the accounts area; the email and password fields are shared with the account page."""

from email_validator import EmailNotValidError, validate_email
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField
from wtforms.validators import DataRequired, Length, ValidationError

MIN_PASSWORD = 10
# Long enough for any passphrase, short enough that hashing it costs nothing extra.
MAX_PASSWORD = 1024


def normalise_email(value: str | None) -> str | None:
    return value.strip().lower() if isinstance(value, str) else value


def valid_email(form, field) -> None:
    """Check the address's form only: no DNS lookup, so sign-up works offline and fast."""
    try:
        result = validate_email(field.data, check_deliverability=False)
    except EmailNotValidError as error:
        raise ValidationError(f"Enter a valid email address: {error}") from None
    field.data = result.normalized.lower()


def email_field() -> EmailField:
    return EmailField(
        "Email",
        filters=[normalise_email],
        validators=[DataRequired("Enter your email address."), valid_email],
        render_kw={"autocomplete": "email"},
    )


def new_password_field(label: str) -> PasswordField:
    return PasswordField(
        label,
        validators=[
            DataRequired("Choose a password."),
            Length(
                min=MIN_PASSWORD,
                max=MAX_PASSWORD,
                message=f"Use at least {MIN_PASSWORD} characters (and at most {MAX_PASSWORD}). "
                "A few unrelated words make a good password.",
            ),
        ],
        render_kw={"autocomplete": "new-password", "minlength": MIN_PASSWORD},
    )


class SignupForm(FlaskForm):
    email = email_field()
    password = new_password_field("Password")


class LoginForm(FlaskForm):
    email = email_field()
    password = PasswordField(
        "Password",
        validators=[DataRequired("Enter your password.")],
        render_kw={"autocomplete": "current-password"},
    )
    remember = BooleanField("Remember me")


class ResetRequestForm(FlaskForm):
    email = email_field()


class ResetPasswordForm(FlaskForm):
    password = new_password_field("New password")


class ButtonForm(FlaskForm):
    """A form that is only a button: it carries the CSRF token."""
