"""Forms of the account page."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, SelectMultipleField, URLField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired
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
