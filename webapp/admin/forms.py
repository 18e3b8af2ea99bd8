"""Forms of the admin page, and the size parser they share with the command line."""

import re
from decimal import Decimal

from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import ValidationError

UNITS = {
    "": 1,
    "b": 1,
    "byte": 1,
    "bytes": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$", re.IGNORECASE)
SIZE_HELP = 'Write a size such as "5 GB", "500 MB", "2 GiB" or a number of bytes.'
MAX_SIZE = 1000**5  # 1 PB: far beyond any disk, far within the database's 64-bit integers


def parse_size(text: str) -> int:
    """Bytes in "5 GB" (powers of 1000, as sizes are shown), "2GiB" (powers of 1024) or "1048576".

    Raises ValueError with a message for people when the text is not a size.
    """
    match = SIZE.match(text or "")
    unit = match.group(2).lower() if match else None
    if match is None or unit not in UNITS:
        raise ValueError(f"“{(text or '').strip()}” is not a size. {SIZE_HELP}")
    # Decimal, not float: a float of a long enough number is infinite, and int() of that raises.
    size = int(Decimal(match.group(1)) * UNITS[unit])
    if size > MAX_SIZE:
        raise ValueError(f"“{text.strip()}” is more than 1 PB, the largest size that can be set.")
    return size


def size_text(n: int) -> str:
    """`n` bytes written exactly in the largest unit that divides it, so parse_size gives `n` back."""
    for unit in ("TiB", "TB", "GiB", "GB", "MiB", "MB", "KiB", "KB"):
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
