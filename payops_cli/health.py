"""`payops health`: one line per check, or JSON; exit status 1 when a check fails, for cron and probes."""

from __future__ import annotations

import json

import click

from ingest.health import run_checks
from payops_cli.support import current_settings, friendly_errors

MARKS = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}


@click.command("health")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@friendly_errors
def health(as_json: bool) -> None:
    """Check the warehouse and exit 1 when something is wrong.

    \b
    Checks: the database answers; migrations are current; the last successful refresh is within the
    freshness policy (dbt_project.yml vars freshness_warn_hours, freshness_error_hours); webhook lag,
    backlog and failed events are within their PAYOPS_ALERT_* thresholds; the last dbt build's tests
    passed; the Dagster daemon's heartbeat is recent; disk space under PAYOPS_HOME. A warning does not fail.
    """
    report = run_checks(current_settings())
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        for check in report.checks:
            click.echo(f"{MARKS[check.status]}  {check.name:15} {check.detail}")
        click.echo("healthy" if report.healthy else "UNHEALTHY")
    if not report.healthy:
        raise SystemExit(1)
