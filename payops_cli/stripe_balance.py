"""`payops ingest stripe-balance`: balance transactions and payout itemizations from Stripe's API."""

from __future__ import annotations

from datetime import timedelta

import click

from payops.db import ready_engine
from payops_cli.support import current_settings, friendly_errors


@click.command("stripe-balance")
@click.option("--overlap-minutes", type=click.IntRange(min=0), default=5, show_default=True,
              help="Re-read this many minutes before the cursor; Stripe's list can show a transaction late.")
@friendly_errors
def stripe_balance_command(overlap_minutes: int) -> None:
    """Fetch balance transactions (fees, conversions, availability) and payout itemizations from Stripe.

    Stripe sends no webhooks for balance transactions. This lists those created since the last sync (the
    first sync: all of them) and stores them, one row per transaction id; then, for each automatic payout
    that was paid or failed and is not itemized yet, lists the transactions it carried. The cursor moves
    only once the whole window is stored, so an interrupted sync is simply run again.

    \b
    Needs STRIPE_API_KEY (a restricted key that can read balance and payouts); without it the sync is
    skipped. STRIPE_API_BASE points it at another address, such as a local test server. Payouts themselves
    arrive as payout.* events (webhooks, `payops ingest stripe-events`).
    """
    from ingest.stripe_balance import NO_KEY_MESSAGE, sync_balance

    settings = current_settings()
    if not settings.stripe_api_key:
        click.echo(NO_KEY_MESSAGE)
        return
    result = sync_balance(settings, ready_engine(settings), overlap=timedelta(minutes=overlap_minutes))
    if result.message:
        click.echo(result.message)
    click.echo(result.summary())
