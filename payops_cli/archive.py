"""`payops archive` and `payops partition`: raw.stripe_events' monthly partitions, made ahead and archived."""

from __future__ import annotations

from pathlib import Path

import click

from ingest.partitions import MONTHS_AHEAD, archive_before, ensure_partitions, list_partitions, parse_month
from payops.db import ready_engine
from payops_cli.support import CONTEXT_SETTINGS, current_settings, friendly_errors


@click.command(context_settings=CONTEXT_SETTINGS)
@click.option("--before", "before", required=True, metavar="YYYY-MM",
              help="Archive every month before this one (this month itself stays).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the Parquet files (default PAYOPS_HOME/archive).")
@friendly_errors
def archive(before: str, out_dir: Path | None) -> None:
    """Move the Stripe events of months before YYYY-MM out of the warehouse, into Parquet.

    \b
    Each month's partition of raw.stripe_events is detached (the receiver keeps storing meanwhile), its events
    go to OUT/stripe_events/YYYY-MM.parquet and their webhook-log rows to OUT/webhook_event_log/YYYY-MM.parquet,
    and the partition is dropped; ops.archived_stripe_event_months records where and a SHA-256 of the file.
    A month with events not yet processed is refused. The state tables and the marts keep what those events
    made; a full rebuild of the marts (dbt --full-refresh) would no longer see them.
    """
    settings = current_settings()
    month = parse_month(before)
    target = out_dir or settings.home / "archive"
    archived = archive_before(ready_engine(settings), month, target)
    if not archived:
        click.echo(f"no month before {month:%Y-%m} to archive")
    for done in archived:
        click.echo(f"{done.month:%Y-%m}: {done.events} events, {done.log_rows} log rows -> {done.events_path}")


@click.group("partition", context_settings=CONTEXT_SETTINGS)
def partitions() -> None:
    """raw.stripe_events' monthly partitions (by the event's `created`, UTC)."""


@partitions.command("ensure")
@click.option("--months-ahead", type=click.IntRange(0, 120), default=MONTHS_AHEAD, show_default=True)
@friendly_errors
def partitions_ensure(months_ahead: int) -> None:
    """Make this month's partition and the next ones' (the daily schedule does it too)."""
    made = ensure_partitions(ready_engine(current_settings()), months_ahead)
    click.echo(f"{made} partition(s) made")


@partitions.command("list")
@friendly_errors
def partitions_list() -> None:
    """Every monthly partition, with its estimated event count (from the last ANALYZE)."""
    for partition in list_partitions(ready_engine(current_settings())):
        click.echo(f"{partition.month:%Y-%m}  {partition.name:28} ~{partition.events} events")
