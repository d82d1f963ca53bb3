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
@click.option("--new-totp", is_flag=True, help="Give an admin a new TOTP secret even if they have one.")
@friendly_errors
def users_add(email: str, role: str, new_totp: bool) -> None:
    """Allow EMAIL to sign in with ROLE (again, if it was disabled; a new role replaces the old).

    An admin is enrolled for TOTP (refunds and other money actions ask for a current code): the provisioning
    URI and its QR code are shown once, for an authenticator app. The secret is stored encrypted.
    """
    from actions.guards import enroll_totp, has_totp

    settings = current_settings()
    engine = ready_engine(settings)
    user = add_user(engine, email, role, added_by=f"cli:{getpass.getuser()}")
    click.echo(f"{user.email} may sign in as {user.role}")
    if user.role != "admin":
        return
    if has_totp(engine, user.email) and not new_totp:
        click.echo("TOTP already enrolled (--new-totp replaces it)")
        return
    import segno

    enrollment = enroll_totp(engine, settings, user.email)
    click.echo("Scan this with an authenticator app (shown once):")
    segno.make(enrollment.provisioning_uri, error="m").terminal(compact=True)
    click.echo(enrollment.provisioning_uri)


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
