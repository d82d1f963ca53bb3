"""`payops webhooks retry`: give failed Stripe events another go (payops.cli_webhooks adds it to its group)."""

from __future__ import annotations

import click

from payops_cli.support import CONTEXT_SETTINGS, current_settings, friendly_errors


@click.command("retry", context_settings=CONTEXT_SETTINGS)
@click.option("--event", "event_id", metavar="ID", help="The failed event to retry (evt_...).")
@click.option("--failed", "all_failed", is_flag=True, help="Retry every failed event.")
@friendly_errors
def retry_command(event_id: str | None, all_failed: bool) -> None:
    """Put failed events back in the processing queue, due now with a fresh retry budget.

    The next run of the Dagster job process_stripe_events takes them; those that fail again go back through
    the back-off. ops.failed_webhook_events lists failed events with their errors.
    """
    from ingest.processing import retry_failed
    from payops.db import ready_engine

    if bool(event_id) == all_failed:
        raise click.UsageError("Give either --event ID or --failed.")
    count = retry_failed(ready_engine(current_settings()), event_id=event_id)
    if event_id and not count:
        raise click.ClickException(f"{event_id} is not a failed event (see ops.failed_webhook_events).")
    click.echo(f"{count} failed event(s) due for retry; the next run of process_stripe_events processes them.")
