"""`flask` commands for the operator: make an admin, set a quota, see who uses how much space, clean up."""

import click
import sqlalchemy as sa
from email_validator import EmailNotValidError
from flask.cli import AppGroup, with_appcontext

from webapp import db
from webapp.admin.forms import parse_size
from webapp.admin.routes import user_rows
from webapp.auth.forms import MAX_PASSWORD, MIN_PASSWORD, canonical_email
from webapp.helpers import filesize
from webapp.models import User, utcnow

users_cli = AppGroup("users", help="Manage user accounts.")


def _canonical(email: str) -> str:
    try:
        return canonical_email(email)
    except EmailNotValidError as error:
        raise click.ClickException(f"Enter a valid email address: {error}") from None


def _find(email: str) -> User | None:
    return db.session.scalar(sa.select(User).filter_by(email=_canonical(email)))


def _existing(email: str) -> User:
    user = _find(email)
    if user is None:
        raise click.ClickException(f"No user has the address {email}.")
    return user


@users_cli.command("create-admin")
@click.argument("email")
def create_admin(email):
    """Make EMAIL an admin, creating a confirmed account (asking for its password) if there is none."""
    user = _find(email)
    if user is not None:
        user.is_admin = True
        db.session.commit()
        click.echo(f"{user.email} is now an admin.")
        return
    address = _canonical(email)
    password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise click.ClickException(f"Use at least {MIN_PASSWORD} characters (and at most {MAX_PASSWORD}).")
    user = User(email=address, confirmed_at=utcnow(), is_admin=True)
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    click.echo(f"Created the admin {user.email}.")


@users_cli.command("set-quota")
@click.argument("email")
@click.argument("size")
def set_quota(email, size):
    """Let EMAIL store SIZE ("5 GiB", "500 MiB" or bytes; GB is GiB; "default": the service default)."""
    user = _existing(email)
    if size.strip().lower() == "default":
        user.quota_bytes = None
    else:
        try:
            user.quota_bytes = parse_size(size)
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="SIZE") from None
    db.session.commit()
    click.echo(f"{user.email} may now store {filesize(user.quota)}.")


@click.command("usage")
@with_appcontext
def usage():
    """Show every user's items, space used and quota, the biggest users first."""
    rows = sorted(user_rows(), key=lambda row: row["used"], reverse=True)
    table = [("Email", "Items", "Used", "Quota", "% used")]
    for row in rows:
        quota = row["user"].quota
        share = f"{100 * row['used'] / quota:.1f} %" if quota else "–"
        table.append((row["user"].email, str(row["items"]), filesize(row["used"]), filesize(quota), share))
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    for line in table:
        cells = [line[0].ljust(widths[0])] + [
            cell.rjust(w) for cell, w in zip(line[1:], widths[1:], strict=True)
        ]
        click.echo("  ".join(cells).rstrip())


@click.command("cleanup")
@click.option("--dry-run", is_flag=True, help="Only list what would be removed.")
@with_appcontext
def cleanup(dry_run):
    """Remove files under MEDIA_ROOT that no row describes, rows whose file is gone, and stale temp files."""
    from webapp.maintenance import cleanup as clean

    report = clean(dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    for reason, what, size in report.removed:
        click.echo(f"{verb}  {what}  ({reason}{f', {filesize(size)}' if size else ''})")
    summary = report.summary()
    summary = summary[:1].upper() + summary[1:] + "."
    click.echo(summary + (" Nothing was deleted (dry run)." if dry_run else ""))


def register_commands(app) -> None:
    app.cli.add_command(users_cli)
    app.cli.add_command(usage)
    app.cli.add_command(cleanup)
