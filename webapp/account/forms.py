"""Forms of the account page."""

from flask_wtf import FlaskForm
from wtforms import PasswordField
from wtforms.validators import DataRequired

from webapp.auth.forms import new_password_field


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
