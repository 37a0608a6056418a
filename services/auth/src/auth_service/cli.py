"""Command-line tasks: ``flask --app auth_service grant-role EMAIL ROLE``."""

import click
from flask import Flask
from flask.cli import with_appcontext

from auth_service import domain
from common.db import session
from common.errors import ApiError


@click.command("grant-role")
@click.argument("email")
@click.argument("role")
@with_appcontext
def grant_role_command(email: str, role: str) -> None:
    """Give the account with EMAIL the ROLE (e.g. admin); it shows in its next tokens."""
    try:
        identity = domain.grant_role(email=email, role=role)
    except ApiError as exc:
        raise click.ClickException(f"{exc.message_text} {exc.details or ''}".strip()) from None
    # No request here, so no common.transaction to commit: the command owns its transaction.
    session.commit()
    click.echo(f"{identity.email}: {', '.join(identity.roles)}")


def init_app(app: Flask) -> None:
    """Register the commands on ``flask --app auth_service``."""
    app.cli.add_command(grant_role_command)
