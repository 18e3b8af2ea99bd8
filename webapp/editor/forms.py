"""Forms of the editor."""

from flask_wtf import FlaskForm
from wtforms import FloatField, TextAreaField
from wtforms.validators import NumberRange, Optional, ValidationError

from webapp.videos.forms import printable

MOST_PHRASES = 100
LONGEST_PHRASE = 40


class RenderForm(FlaskForm):
    """Render the current edit (only its CSRF token)."""


class ResetForm(FlaskForm):
    """Back to the automatic cut (only its CSRF token)."""


class PauseForm(FlaskForm):
    # A float, not a Decimal: Decimal("sNaN") makes the range check raise instead of refuse.
    pause_length = FloatField(
        "Shorten pauses to (seconds)",
        validators=[Optional(), NumberRange(0.05, 2, "Between 0.05 and 2 seconds.")],
    )


def _phrases(form, field) -> None:
    lines = form.phrase_list()
    if len(lines) > MOST_PHRASES:
        raise ValidationError(f"At most {MOST_PHRASES} filler words and phrases.")
    if any(len(line) > LONGEST_PHRASE for line in lines):
        raise ValidationError(f"Each filler word or phrase may have at most {LONGEST_PHRASE} characters.")


class FillersForm(FlaskForm):
    phrases = TextAreaField(
        "Filler words and phrases",
        description="One per line. The editor suggests cutting them wherever they are said.",
        validators=[_phrases],
    )

    def phrase_list(self) -> list[str]:
        """The phrases, one per line, tidied; the same phrase once."""
        seen = {}
        for line in (self.phrases.data or "").splitlines():
            phrase = " ".join(printable(line).split())  # no NUL, no bidi override
            if phrase:
                seen.setdefault(phrase.lower(), phrase)
        return list(seen.values())
