"""Fill gaps in raw.stripe_events from Stripe's Events API (`GET /v1/events`).

Webhooks can be missed; the Events API keeps the last 30 days. Each run lists every event created since
the cursor (minus an overlap, because Stripe's list is eventually consistent and `created` has 1 s
resolution), stores them through the same merge as a replay (dedupe on the event id), and only then moves
the cursor. A run that stops half way leaves the cursor where it was: the next run reads the whole window
again, and what was already stored counts as duplicates.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice

import orjson
import sqlalchemy as sa
import stripe

from ingest.stripe_events import LoadResult, load_events
from payops.errors import PayopsError
from payops.settings import Settings

log = logging.getLogger(__name__)

CURSOR_SOURCE = "stripe.events_api"
LOADED_AS = "events_api"
STRIPE_EVENT_RETENTION = timedelta(days=30)
DEFAULT_OVERLAP = timedelta(minutes=5)
EVENTS_PER_LOAD = 1_000
NETWORK_RETRIES = 2
NO_KEY_MESSAGE = "STRIPE_API_KEY is not set: the Events API sync is skipped"


@dataclass
class SyncResult:
    skipped: bool = False
    message: str = ""
    listed: int = 0
    loaded: int = 0
    duplicates: int = 0
    rejected: int = 0
    cursor_before: datetime | None = None
    cursor_after: datetime | None = None
    window_start: datetime | None = None
    """the `created[gte]` asked of Stripe"""
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if self.skipped:
            return self.message
        return (
            f"{self.listed} event(s) listed since {iso(self.window_start)}: {self.loaded} new, "
            f"{self.duplicates} duplicate, {self.rejected} rejected; "
            f"cursor {iso(self.cursor_before)} -> {iso(self.cursor_after)}"
        )


class SyncInterrupted(PayopsError, RuntimeError):
    """The listing failed part way; what was stored stays stored and the cursor did not move."""

    def __init__(self, partial: SyncResult, cause: Exception):
        self.partial = partial
        super().__init__(
            f"the Events API sync stopped after {partial.listed} event(s) ({partial.loaded} new): {cause}. "
            f"The cursor stays at {iso(partial.cursor_before)}, so the next run reads the whole window again."
        )


def iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment else "none"


def stripe_client(settings: Settings) -> stripe.StripeClient:
    # StripeClient does not retry unless told; a listing of many pages should ride out a network blip.
    base_addresses = {"api": settings.stripe_api_base} if settings.stripe_api_base else None
    return stripe.StripeClient(settings.stripe_api_key, base_addresses=base_addresses,
                               max_network_retries=NETWORK_RETRIES)


def read_cursor(engine: sa.Engine, source: str = CURSOR_SOURCE) -> datetime | None:
    with engine.connect() as conn:
        return conn.execute(
            sa.text("select watermark from ops.ingest_watermarks where source = :source"), {"source": source}
        ).scalar()


CLOCK_SKEW = timedelta(minutes=5)
"""The cursor never moves past now plus this: an event dated in the future (2036) would skip every real one
created until then."""


def advance_cursor(engine: sa.Engine, newest: datetime, source: str = CURSOR_SOURCE) -> None:
    # greatest(): a slower run that started earlier (the schedule beside a manual run) never moves it back.
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "insert into ops.ingest_watermarks (source, watermark) values (:source, :watermark)"
                " on conflict (source) do update"
                " set watermark = greatest(ingest_watermarks.watermark, excluded.watermark), updated_at = now()"
            ),
            {"source": source, "watermark": newest},
        )


def chunks(events: Iterable[tuple[str, bytes]], size: int) -> Iterator[list[tuple[str, bytes]]]:
    iterator = iter(events)
    while chunk := list(islice(iterator, size)):
        yield chunk


def sync_events(
    settings: Settings,
    engine: sa.Engine,
    *,
    overlap: timedelta = DEFAULT_OVERLAP,
    page_size: int = 100,
    now: datetime | None = None,
    client: stripe.StripeClient | None = None,
) -> SyncResult:
    """List events created since the cursor minus `overlap` and store the new ones in raw.stripe_events.

    Returns a skipped result when STRIPE_API_KEY is unset. Raises SyncInterrupted when Stripe fails part way.
    """
    if client is None and not settings.stripe_api_key:
        log.info(NO_KEY_MESSAGE)
        return SyncResult(skipped=True, message=NO_KEY_MESSAGE)
    client = client or stripe_client(settings)
    now = now or datetime.now(UTC)
    oldest_listed = now - STRIPE_EVENT_RETENTION
    cursor = read_cursor(engine)
    result = SyncResult(cursor_before=cursor, cursor_after=cursor)
    if cursor is None:
        result.window_start = oldest_listed
        result.message = "first sync: reading Stripe's last 30 days of events"
    elif cursor - overlap < oldest_listed:
        result.window_start = oldest_listed
        _warn(
            result,
            f"the cursor ({iso(cursor)}) is older than Stripe's 30-day event retention: events created between "
            f"{iso(cursor)} and {iso(oldest_listed)} may be lost for good unless a webhook or an export "
            "delivered them; replay an export with `payops ingest replay` to fill the gap",
        )
    else:
        result.window_start = cursor - overlap

    newest_created: int | None = None
    latest_believable = int((now + CLOCK_SKEW).timestamp())
    failure: stripe.StripeError | None = None

    def listed_events() -> Iterator[tuple[str, bytes]]:
        nonlocal newest_created, failure
        params = {"created": {"gte": int(result.window_start.timestamp())}, "limit": page_size}
        try:
            for event in client.v1.events.list(params=params).auto_paging_iter():
                result.listed += 1
                created = event.created if isinstance(event.created, int) else None
                if created is not None and created <= latest_believable:  # a clock's error must not move the cursor
                    newest_created = created if newest_created is None else max(newest_created, created)
                yield f"events_api:{event.id}", orjson.dumps(event.to_dict(for_json=True))
        except stripe.StripeError as exc:
            # Ending the stream instead of raising lets what was read be stored: the re-run then has less to do.
            failure = exc

    for chunk in chunks(listed_events(), EVENTS_PER_LOAD):
        _add(result, load_events(engine, chunk, source=LOADED_AS))
    if failure is not None:
        log.error("Events API sync interrupted after %d event(s); cursor unchanged: %s", result.listed, failure)
        raise SyncInterrupted(result, failure) from failure

    if result.rejected:
        _warn(result, f"{result.rejected} event(s) rejected as malformed: see ops.rejected_records")
    if newest_created is not None:
        advance_cursor(engine, datetime.fromtimestamp(newest_created, UTC))
        result.cursor_after = read_cursor(engine)
    log.info("Events API sync: %s", result.summary())
    return result


def _warn(result: SyncResult, warning: str) -> None:
    result.warnings.append(warning)
    log.warning(warning)


def _add(result: SyncResult, loaded: LoadResult) -> None:
    result.loaded += loaded.loaded
    result.duplicates += loaded.duplicates
    result.rejected += loaded.rejected
