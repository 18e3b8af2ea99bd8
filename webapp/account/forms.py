"""Forms of the account page."""

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    IntegerField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    URLField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from webapp.auth.forms import new_password_field
from webapp.webhooks import InvalidWebhook
from webapp.webhooks.events import EVENTS


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(
        "Current password",
        validators=[DataRequired("Enter your current password.")],
        render_kw={"autocomplete": "current-password"},
    )
    new_password = new_password_field("New password")


class DeleteAccountForm(FlaskForm):
    password = PasswordField(
        "Your password",
        validators=[DataRequired("Enter your password to confirm.")],
        render_kw={"autocomplete": "current-password"},
    )


class TokenForm(FlaskForm):
    """A new personal access token for the API."""

    name = StringField(
        "Token name",
        filters=[lambda text: text.strip() if text else text],
        validators=[
            DataRequired("Name the token after what uses it, such as “backup script”."),
            Length(max=100, message="Use at most 100 characters."),
        ],
    )
    scope = SelectField(
        "Scope",
        choices=[
            SelectChoice("read", "Read: see items and download files"),
            SelectChoice("write", "Write: also upload, run jobs and delete"),
        ],
        default="read",
    )
    expires_days = IntegerField(
        "Expires after (days)",
        validators=[Optional(), NumberRange(1, 3650, "Between 1 and 3650 days, or empty for never.")],
    )


class WebhookForm(FlaskForm):
    """Adding or changing a webhook. The rules are webapp.webhooks' (which the API uses too), and its
    refusals are shown on the fields (show_refusal)."""

    url = URLField("Webhook URL", description="An http:// or https:// URL that takes POST requests.")
    events = SelectMultipleField(
        "Events",
        choices=[SelectChoice(event, label) for event, label in EVENTS.items()],
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )
    enabled = BooleanField("Enabled", default=True)

    def show_refusal(self, refusal: InvalidWebhook) -> None:
        for name, message in refusal.errors.items():
            self[name].errors = [*self[name].errors, message]
