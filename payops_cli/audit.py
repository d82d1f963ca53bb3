"""`payops audit`: check the admin actions' audit trail."""

from __future__ import annotations

import sys

import click

from actions.audit import verify_chain
from payops.db import ready_engine
from payops_cli.support import CONTEXT_SETTINGS, current_settings, friendly_errors


@click.group(context_settings=CONTEXT_SETTINGS)
def audit() -> None:
    """Check the admin actions' audit trail.

    ops.admin_actions is append-only and each row carries the hash of the one before.
    """


@audit.command("verify")
@friendly_errors
def audit_verify() -> None:
    """Recompute the chain and name every row altered or removed since it was written.

    Exits 1 when the chain is broken. Keep the printed head hash elsewhere (a ticket, a log): removing the
    newest rows leaves no gap the chain itself could show, but changes the head.
    """
    report = verify_chain(ready_engine(current_settings()))
    for problem in report.problems:
        click.echo(problem.message)
    if not report.intact:
        click.echo(f"audit chain BROKEN: {len(report.problems)} problem(s) in {report.rows} rows")
        sys.exit(1)
    click.echo(f"audit chain intact: {report.rows} rows, head hash {report.head_hash}")
