"""`payops ingest stripe-events`: fill gaps in raw.stripe_events from Stripe's Events API."""

from __future__ import annotations

from datetime import datetime, timedelta

import click

from payops.db import ready_engine
from payops_cli.support import current_settings, friendly_errors


@click.command("stripe-events")
@click.option("--overlap-minutes", type=click.IntRange(min=0), default=5, show_default=True,
              help="Re-read this many minutes before the cursor; Stripe's list can show an event late.")
@friendly_errors
def stripe_events_command(overlap_minutes: int) -> None:
    """Fetch events that webhooks missed from Stripe's Events API.

    Lists the events created since the last sync (the first sync: the last 30 days, all Stripe keeps)
    and stores the new ones in raw.stripe_events; events already stored count as duplicates. The cursor
    moves only once the whole window is stored, so an interrupted sync is simply run again.

    \b
    Needs STRIPE_API_KEY (a restricted key that can read events); without it the sync is skipped.
    STRIPE_API_BASE points it at another address, such as a local test server.
    """
    from ingest.stripe_sync import NO_KEY_MESSAGE, sync_events

    settings = current_settings()
    if not settings.stripe_api_key:
        # Not an error: a warehouse fed by exports and webhooks alone has no key to give.
        click.echo(NO_KEY_MESSAGE)
        return
    result = sync_events(settings, ready_engine(settings), overlap=timedelta(minutes=overlap_minutes))

    if result.message:
        click.echo(result.message)
    click.echo(f"events listed: {result.listed} (since {_iso(result.window_start)})")
    click.echo(f"new:           {result.loaded}")
    click.echo(f"duplicate:     {result.duplicates}")
    if result.rejected:
        click.echo(f"rejected:      {result.rejected}")
    click.echo(f"cursor:        {_iso(result.cursor_before)} -> {_iso(result.cursor_after)}")
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment else "none (never synced)"
