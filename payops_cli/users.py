"""`payops users`: who may sign in to the app, and as analyst or admin."""

from __future__ import annotations

import getpass

import click

from payops.db import ready_engine
from payops.users import ROLES, add_user, disable_user, list_users
from payops_cli.support import CONTEXT_SETTINGS, current_settings, friendly_errors


@click.group(context_settings=CONTEXT_SETTINGS)
def users() -> None:
    """Manage who may use the app: analysts read every page, admins also act (refunds, disputes, ...).

    Sign-in proves an identity through your OpenID Connect provider; only emails listed here see any data.
    """


@users.command("add")
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), required=True, help="analyst: read; admin: read and act.")
@friendly_errors
def users_add(email: str, role: str) -> None:
    """Allow EMAIL to sign in with ROLE (again, if it was disabled; a new role replaces the old)."""
    user = add_user(ready_engine(current_settings()), email, role, added_by=f"cli:{getpass.getuser()}")
    click.echo(f"{user.email} may sign in as {user.role}")


@users.command("list")
@friendly_errors
def users_list() -> None:
    """Every user, with role, state and who added them."""
    rows = list_users(ready_engine(current_settings()))
    if not rows:
        click.echo("no users yet: `payops users add EMAIL --role admin` adds the first")
    for user in rows:
        state = "active" if user.active else "disabled"
        click.echo(f"{user.email:40} {user.role:8} {state:9} added by {user.added_by} on {user.added_at:%Y-%m-%d}")


@users.command("disable")
@click.argument("email")
@friendly_errors
def users_disable(email: str) -> None:
    """Refuse EMAIL from now on (the row stays, for the audit trail)."""
    user = disable_user(ready_engine(current_settings()), email)
    click.echo(f"{user.email} is disabled")
