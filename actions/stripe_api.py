"""The Stripe client the actions use, which Stripe it is (local, test mode, live), and the shared call limit.

One StripeClient per process, with STRIPE_API_BASE as both its API and Files address (a local server serves
both). Calls pass through a limiter whose bucket lives in Postgres (pyrate-limiter's PostgresBucket), so the
limit holds across every process acting on this warehouse: Streamlit sessions, the CLI, workers.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import sqlalchemy as sa
import stripe
from pyrate_limiter import Duration, Limiter, Rate
from pyrate_limiter.buckets.postgres import PostgresBucket

from actions.errors import ActionsUnavailable
from payops.settings import Settings

LOCAL_KEY = "sk_test_local"
"""A local server takes any key; this one says so in its own name."""
STRIPE_CALLS_PER_SECOND = 20
"""Below Stripe's own limits (100/s live, 25/s test) so we never earn their 429s."""
NETWORK_RETRIES = 2
"""The SDK retries network failures itself, with the same idempotency key, before we record a failure."""


def stripe_mode(settings: Settings) -> str:
    """'local (http://127.0.0.1:8420)', 'test mode', 'live' or 'not configured': shown beside every action form."""
    if settings.stripe_api_base and urlsplit(settings.stripe_api_base).hostname not in ("api.stripe.com", None):
        return f"local ({settings.stripe_api_base})"
    key = settings.stripe_api_key or ""
    if key.startswith(("sk_live_", "rk_live_")):
        return "live"
    if key.startswith(("sk_test_", "rk_test_")):
        return "test mode"
    return "not configured"


def stripe_client(settings: Settings) -> stripe.StripeClient:
    key = settings.stripe_api_key
    if not key and settings.stripe_api_base:
        key = LOCAL_KEY
    if not key:
        raise ActionsUnavailable("Admin actions need a Stripe key that may write (refunds, disputes): set "
                                 "STRIPE_API_KEY, or STRIPE_API_BASE to a local server.")
    base = settings.stripe_api_base
    addresses = {"api": base, "files": base} if base else {}
    return stripe.StripeClient(key, base_addresses=addresses, max_network_retries=NETWORK_RETRIES)


def libpq_url(engine: sa.Engine) -> str:
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def stripe_call_limiter(engine: sa.Engine, calls_per_second: int = STRIPE_CALLS_PER_SECOND) -> Limiter:
    """A limiter over the bucket table public.ratelimit___stripe_calls, shared by every process on the warehouse."""
    from psycopg_pool import ConnectionPool

    # The bucket's rows live for a second and only pace calls: they need no flush to disk at each commit (a
    # crash forgets the last second's calls). Every other process still sees each row once it is committed.
    pool = ConnectionPool(libpq_url(engine), min_size=1, max_size=4, open=True,
                          kwargs={"options": "-c synchronous_commit=off"})
    return Limiter(PostgresBucket(pool, "stripe_calls", [Rate(calls_per_second, Duration.SECOND)]))


def close_limiter(limiter: Limiter) -> None:
    """Stop the limiter's background leaking and close its connections."""
    for bucket in list(limiter.buckets()):
        limiter.dispose(bucket)
        bucket.pool.close()
