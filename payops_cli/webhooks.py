"""`payops webhooks`: run the Stripe webhook receiver, or send it signed event files."""

from __future__ import annotations

from pathlib import Path

import click

from payops_cli.processing import retry_command
from payops_cli.support import CONTEXT_SETTINGS, current_settings, friendly_errors

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
DEFAULT_URL = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}/webhooks/stripe"


@click.group(context_settings=CONTEXT_SETTINGS)
def webhooks() -> None:
    """Receive Stripe webhooks into the warehouse, or send event files to a receiver.

    \b
    The receiver answers 2xx only once an event is committed to raw.stripe_events (with its exact body and
    headers) and queued in ops.webhook_event_log; while the warehouse is down it answers 503 so Stripe retries.
    STRIPE_WEBHOOK_SECRET holds the endpoint's signing secret (whsec_...); during a rotation give the new and
    the old one, comma-separated.
    """


@webhooks.command("serve")
@click.option("--host", default=DEFAULT_HOST, show_default=True,
              help="Address to listen on; 0.0.0.0 to accept deliveries from outside this machine.")
@click.option("--port", default=DEFAULT_PORT, show_default=True, help="Port to listen on.")
@click.option("--access-log", is_flag=True, help="Log one line per request (client, path, status; never bodies).")
@friendly_errors
def serve(host: str, port: int, access_log: bool) -> None:
    """Run the receiver until Ctrl+C: deliveries to /webhooks/stripe, counters at /healthz.

    Applies the warehouse migrations first. Point Stripe (or `stripe listen --forward-to`) at
    http://HOST:PORT/webhooks/stripe.
    """
    import uvicorn

    from ingest.webhooks import create_app

    app = create_app(current_settings())
    click.echo(f"receiving Stripe webhooks on http://{host}:{port}/webhooks/stripe (Ctrl+C to stop)")
    uvicorn.run(app, host=host, port=port, workers=1, access_log=access_log, log_level="info")


@webhooks.command("send")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--url", default=DEFAULT_URL, show_default=True, help="The receiver's webhook address.")
@click.option("--secret", default=None, metavar="WHSEC",
              help="Signing secret. Default: the first one in STRIPE_WEBHOOK_SECRET.")
@click.option("--concurrency", default=16, show_default=True, type=click.IntRange(1, 512),
              help="Deliveries in flight at once.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@friendly_errors
def send(paths: tuple[Path, ...], url: str, secret: str | None, concurrency: int, quiet: bool) -> None:
    """POST each event in PATHS to a receiver, signed as Stripe signs it.

    PATHS are files or folders of events, read as `payops ingest replay` reads them: JSON Lines, one event per
    file, or Stripe list pages. Exits with status 1 when any delivery was not answered 2xx.
    """
    from ingest.webhook_sender import send as send_events

    if secret is None:
        secrets = current_settings().stripe_webhook_secrets
        if not secrets:
            raise click.UsageError("Pass --secret whsec_..., or set STRIPE_WEBHOOK_SECRET to the receiver's secret.")
        secret = secrets[0]
    summary = send_events(paths, url, secret, concurrency=concurrency, progress=not quiet)
    click.echo(summary.summary())
    if summary.acknowledged < summary.sent:
        raise click.ClickException(
            f"{summary.sent - summary.acknowledged} deliveries were not acknowledged. A 4xx was refused for good "
            "(the reason is in the receiver's log and, counted per minute, ops.webhook_rejections); anything else "
            "(503: its warehouse was unavailable) can simply be sent again, since duplicates are recognised by "
            "event id."
        )


webhooks.add_command(retry_command)
