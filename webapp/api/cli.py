"""`flask tokens create`: a personal access token for scripts and tests, printed once."""

import click
from flask.cli import AppGroup

from webapp.admin.cli import _existing
from webapp.models import ApiToken

tokens_cli = AppGroup("tokens", help="Personal access tokens for the API.")


@tokens_cli.command("create")
@click.argument("email")
@click.option("--name", required=True, help="What the token is for, as the account page lists it.")
@click.option("--scope", type=click.Choice(ApiToken.SCOPES), default=ApiToken.WRITE, show_default=True)
@click.option(
    "--expires-days", type=click.IntRange(min=1), help="Days it works for (default: until revoked)."
)
def create(email, name, scope, expires_days):
    """Make a token for the account EMAIL and print it (it is stored only as a hash)."""
    user = _existing(email)
    if not name.strip():
        raise click.BadParameter("Name the token after what uses it.", param_hint="--name")
    token = ApiToken.issue(user, name.strip()[:100], scope, expires_days)
    if token is None:
        raise click.ClickException(ApiToken.TOO_MANY)
    click.echo(token.token)
