"""Forms of the accounts area; the email and password fields are shared with the account page."""

import unicodedata

from email_validator import EmailNotValidError, validate_email
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField
from wtforms.validators import DataRequired, Length, ValidationError

MIN_PASSWORD = 10
# Long enough for any passphrase, short enough that hashing it costs nothing extra.
MAX_PASSWORD = 1024


# Scripts that people write together (UTS #39's "highly restrictive" level); any other mix of
# scripts in one part of an address is refused as a likely look-alike.
SCRIPTS_USED_TOGETHER = (
    {"LATIN", "HAN", "HIRAGANA", "KATAKANA"},
    {"LATIN", "HAN", "BOPOMOFO"},
    {"LATIN", "HAN", "HANGUL"},
)
MIXED_SCRIPTS = "mixes letters of different alphabets (like a Cyrillic 'а' among Latin letters)."


def normalise_email(value: str | None) -> str | None:
    # NFKC first, so that fullwidth "ｂｏｂ" or a ligature reads as the plain letters it shows.
    return unicodedata.normalize("NFKC", value).strip() if isinstance(value, str) else value


def _script(char: str) -> str | None:
    """The script of a letter from its Unicode name ("CYRILLIC SMALL LETTER A"); None for others."""
    if not unicodedata.category(char).startswith("L"):
        return None  # digits, dots, combining marks go with any script
    name = unicodedata.name(char, "")
    return "HAN" if name.startswith("CJK") else name.split(" ", 1)[0].split("-", 1)[0]


def mixes_scripts(text: str) -> bool:
    scripts = {s for s in map(_script, text) if s}
    return len(scripts) > 1 and not any(scripts <= allowed for allowed in SCRIPTS_USED_TOGETHER)


def canonical_email(value: str) -> str:
    """The one form an address is stored and looked up in: NFKC, the domain checked with IDNA,
    lower case. Raises EmailNotValidError for an address that is not one, or that mixes alphabets.

    Without a confusables table (UTS #39 skeletons) the mixed-alphabet rule is what stops a
    look-alike of an existing account such as "bоb" with a Cyrillic "о"; fullwidth and other
    compatibility forms fold into the plain address by NFKC, so they are the same account.
    """
    result = validate_email(normalise_email(value), check_deliverability=False)
    for part in (result.local_part, *result.domain.split(".")):
        if mixes_scripts(part):
            raise EmailNotValidError(f"'{part}' {MIXED_SCRIPTS}")
    return result.normalized.lower()


def valid_email(form, field) -> None:
    """Check the address's form only: no DNS lookup, so sign-up works offline and fast."""
    try:
        field.data = canonical_email(field.data)
    except EmailNotValidError as error:
        raise ValidationError(f"Enter a valid email address: {error}") from None


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
