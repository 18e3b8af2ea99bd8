"""Forms of the admin page, and the size parser they share with the command line."""

import re
from decimal import Decimal

from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import ValidationError

# Sizes are shown in powers of 1024 (GiB), so "GB" is read as GiB too: a quota set as "5 GB" then
# shows as the "5.0 GiB" it was set to, not as 4.7 GiB.
UNITS = {"": 1, "b": 1, "byte": 1, "bytes": 1} | {
    prefix + suffix: 1024**power for power, prefix in enumerate("kmgtp", 1) for suffix in ("b", "ib")
}
SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$", re.IGNORECASE)
SIZE_HELP = 'Write a size such as "5 GiB", "500 MiB" or a number of bytes ("GB" is read as GiB).'
MAX_SIZE = 1024**5  # 1 PiB: far beyond any disk, far within the database's 64-bit integers


def parse_size(text: str) -> int:
    """Bytes in "5 GiB", "500 MiB", "5 GB" (read as GiB, the unit sizes are shown in) or "1048576".

    Raises ValueError with a message for people when the text is not a size, or more than 1 PiB.
    """
    match = SIZE.match(text or "")
    unit = match.group(2).lower() if match else None
    if match is None or unit not in UNITS:
        raise ValueError(f"“{(text or '').strip()}” is not a size. {SIZE_HELP}")
    # Decimal, not float: a float of a long enough number is infinite, and int() of that raises.
    size = int(Decimal(match.group(1)) * UNITS[unit])
    if size > MAX_SIZE:
        raise ValueError(
            f"“{text.strip()}” is more than 1 PiB, the largest quota that can be set "
            "(far more than any disk holds)."
        )
    return size


def size_text(n: int) -> str:
    """`n` bytes written exactly in the largest unit that divides it, so parse_size gives `n` back."""
    for unit in ("PiB", "TiB", "GiB", "MiB", "KiB"):
        if n and n % UNITS[unit.lower()] == 0:
            return f"{n // UNITS[unit.lower()]} {unit}"
    return str(n)


class QuotaForm(FlaskForm):
    # Empty means the service's default quota.
    quota = StringField("Quota")

    def validate_quota(self, field) -> None:
        if field.data and field.data.strip():
            try:
                field.bytes = parse_size(field.data)
            except ValueError as error:
                raise ValidationError(str(error)) from None
        else:
            field.bytes = None


class AccessForm(FlaskForm):
    """The disable or enable button: it carries only the CSRF token."""
