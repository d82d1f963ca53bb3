"""The Stripe webhook receiver: verify the signature, commit the delivery, and only then answer 2xx.

Stripe retries any delivery not answered 2xx (for up to 3 days in live mode), so the one rule here is that a
2xx means the event is committed in raw.stripe_events (with its exact body and headers) and queued in
ops.webhook_event_log. Anything the warehouse cannot take right now is a 503, which Stripe retries; anything
that will never be an event (bad signature, stale timestamp, not a Stripe event, too large) is a 400/413 and
leaves only a line in ops.rejected_records, never the body. Processing the stored events is not done here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Protocol

import anyio
import orjson
import sqlalchemy as sa
import stripe
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ingest.health import HealthReport, run_checks
from ingest.stripe_events import MalformedEvent, parse_event
from payops.db import ready_engine
from payops.settings import Settings, SettingsError

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1 << 20
SIGNATURE_TOLERANCE_SECONDS = 300
CONCURRENT_GROUPS = 4
"""Transactions in flight, and connections in the receiver's pool. Each commits every delivery that was waiting
when it began; measured in bench/webhook_bench.py, more did not commit faster on 2 cores."""
MAX_GROUP = 200

MISSING_SECRET = (
    "STRIPE_WEBHOOK_SECRET is not set, so no delivery could be verified. Export the endpoint's signing secret "
    "(whsec_..., from the Stripe dashboard: Developers > Webhooks > your endpoint > Signing secret, or from "
    "`stripe listen --print-secret`); while rotating, give the new and the old one, comma-separated."
)

# One statement, so the events and their log rows commit together or not at all; a duplicate inserts
# neither. It returns the ids it stored.
STORE_EVENTS = """
with incoming as (
    select * from unnest(%s::text[], %s::text[], %s::text[], %s::boolean[], %s::timestamptz[], %s::text[],
                         %s::text[], %s::text[], %s::timestamptz[], %s::text[])
        as delivered (event_id, event_type, api_version, livemode, created_at, object_type, object_id, body,
                      received_at, headers)
),
stored as (
    insert into raw.stripe_events
        (event_id, event_type, api_version, livemode, created_at, object_type, object_id, payload,
         received_at, source, raw_body, headers)
    select event_id, event_type, api_version, livemode, created_at, object_type, object_id, body::jsonb,
           received_at, 'webhook', body, headers::jsonb
    from incoming
    -- one order for every writer: two transactions (two receivers) holding the same ids cannot deadlock
    order by event_id
    on conflict (event_id, created_at) do nothing
    returning event_id, received_at
)
insert into ops.webhook_event_log (event_id, received_at) select event_id, received_at from stored
returning event_id
"""
RECORD_REJECTION = "insert into ops.rejected_records (source, location, reason) values ('webhook', %s, %s)"


class Rejected(Exception):
    """A delivery that will never be an event: answered with `status` and a short reason."""

    def __init__(self, reason: str, status: int = 400):
        super().__init__(reason)
        self.reason = reason
        self.status = status


class WarehouseDown(Exception):
    """The delivery could not be committed now; Stripe should retry it."""

    def __init__(self, cause: str, rejected_data: bool = False):
        super().__init__(cause)
        self.rejected_data = rejected_data


@dataclass(frozen=True)
class Delivery:
    row: tuple
    """parse_event's columns: event_id, event_type, api_version, livemode, created_at, object_type, object_id, body."""
    headers_json: str
    received_at: datetime

    @property
    def event_id(self) -> str:
        return self.row[0]

    @property
    def event_type(self) -> str:
        return self.row[1]


class EventStore(Protocol):
    async def save(self, delivery: Delivery) -> bool:
        """Commit the delivery; True when stored, False when its event id was already there. Raises WarehouseDown."""

    async def reject(self, location: str, reason: str) -> None:
        """Record a rejection, best effort."""

    async def close(self) -> None: ...


class PostgresStore:
    """Commits deliveries in groups: a transaction takes every delivery waiting when it begins (up to
    MAX_GROUP), and each is answered once that transaction has committed. Under load this is one WAL flush
    and one round trip for many deliveries instead of one each; at low rates a group is one delivery.

    The sync SQLAlchemy engine runs in worker threads (its pool gives pre-ping after a Postgres restart and
    drops dead connections); a capacity limiter as large as the pool keeps every thread holding a connection."""

    def __init__(self, engine: sa.Engine, owns_engine: bool):
        self.engine = engine
        self.owns_engine = owns_engine
        self.limiter = anyio.CapacityLimiter(CONCURRENT_GROUPS)
        self.waiting: list[tuple[Delivery, asyncio.Future[bool]]] = []
        self.writers: set[asyncio.Task] = set()

    async def save(self, delivery: Delivery) -> bool:
        answer = asyncio.get_running_loop().create_future()
        self.waiting.append((delivery, answer))
        if len(self.writers) < CONCURRENT_GROUPS:
            writer = asyncio.create_task(self._write_waiting())
            self.writers.add(writer)
            writer.add_done_callback(self.writers.discard)
        return await answer

    async def _write_waiting(self) -> None:
        while self.waiting:
            group, self.waiting = self.waiting[:MAX_GROUP], self.waiting[MAX_GROUP:]
            await self._commit(group)

    async def _commit(self, group: list[tuple[Delivery, asyncio.Future[bool]]]) -> None:
        try:
            stored = await self._in_thread(self._store_group, [delivery for delivery, _ in group])
        except WarehouseDown as exc:
            if exc.rejected_data and len(group) > 1:
                # One delivery Postgres refuses must not hold back the others: halve until it is alone.
                middle = len(group) // 2
                await self._commit(group[:middle])
                await self._commit(group[middle:])
                return
            for _, answer in group:
                if not answer.done():
                    answer.set_exception(exc)
            return
        for delivery, answer in group:
            # The first delivery of an id in the group stored it; any other copy is a duplicate.
            first = delivery.event_id in stored
            stored.discard(delivery.event_id)
            if not answer.done():
                answer.set_result(first)

    def _store_group(self, deliveries: list[Delivery]) -> set[str]:
        distinct = list({delivery.event_id: delivery for delivery in reversed(deliveries)}.values())
        columns = [list(column) for column in zip(*(
            (*delivery.row, delivery.received_at, delivery.headers_json) for delivery in distinct), strict=True)]
        with self.engine.begin() as conn:
            return {row[0] for row in conn.exec_driver_sql(STORE_EVENTS, tuple(columns))}

    def _record_rejection(self, location: str, reason: str) -> None:
        with self.engine.begin() as conn:
            conn.exec_driver_sql(RECORD_REJECTION, (location, reason))

    async def _in_thread(self, function, *args):
        try:
            return await anyio.to_thread.run_sync(function, *args, limiter=self.limiter)
        except sa.exc.SQLAlchemyError as exc:
            # str(exc) would carry the statement's parameters, that is the body: log the driver's cause only.
            raise WarehouseDown(_cause(exc), rejected_data=_is_data_error(exc)) from None

    async def reject(self, location: str, reason: str) -> None:
        try:
            await self._in_thread(self._record_rejection, location, reason)
        except WarehouseDown as exc:
            log.warning("could not record the rejection of a delivery from %s: %s", location, exc)

    async def close(self) -> None:
        if self.owns_engine:
            self.engine.dispose()


def _is_data_error(exc: sa.exc.SQLAlchemyError) -> bool:
    """Postgres refused the rows (a constraint, a value); not a lost or unreachable connection."""
    return isinstance(exc, sa.exc.DBAPIError) and not exc.connection_invalidated and not isinstance(
        exc, sa.exc.OperationalError | sa.exc.InterfaceError)


def _cause(exc: sa.exc.SQLAlchemyError) -> str:
    orig = getattr(exc, "orig", None)
    if orig is None:
        return type(exc).__name__
    diag = getattr(orig, "diag", None)
    primary = diag.message_primary if diag is not None else None
    return primary or (str(orig).strip().splitlines() or [type(orig).__name__])[0]


@dataclass
class Counters:
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    unavailable: int = 0


def verify_signature(text: str, header: str | None, secrets: tuple[str, ...]) -> None:
    """Pass if any configured secret signed this body within the tolerance; raise Rejected otherwise."""
    if not header:
        raise Rejected("missing Stripe-Signature header")
    failures = []
    for secret in secrets:
        try:
            stripe.WebhookSignature.verify_header(text, header, secret, tolerance=SIGNATURE_TOLERANCE_SECONDS)
            return
        except stripe.SignatureVerificationError as exc:
            failures.append(str(exc))
    # A signature that matched but is too old says more than the mismatches of the other secrets.
    raise Rejected(next((f for f in failures if f.startswith("Timestamp outside")), failures[0]))


async def read_limited(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    too_large = Rejected(f"body over {MAX_BODY_BYTES} bytes", status=413)
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise too_large
    # The declared length may be absent (chunked) or false, so the stream is counted as well.
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def headers_json(request: Request) -> str:
    """The delivery's headers as one JSON object; a repeated field is joined with ", " as RFC 9110 allows."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in request.headers.raw:
        name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return orjson.dumps(headers).decode()


def receiver_app(secrets: tuple[str, ...], store: EventStore,
                 health: Callable[[], HealthReport] | None = None) -> Starlette:
    """The ASGI app around any store: `create_app` gives it Postgres, the benchmark a store that keeps nothing.
    `secrets` must not be empty; create_app says what to do when it is. `health` runs `payops health`'s checks
    for /healthz."""
    counters = Counters()

    async def receive_delivery(request: Request) -> Delivery:
        received_at = datetime.now(UTC)
        body = await read_limited(request)
        try:
            text = body.decode()
        except UnicodeDecodeError:
            raise Rejected("body is not UTF-8") from None
        verify_signature(text, request.headers.get("stripe-signature"), secrets)
        try:
            row = parse_event(body)
        except MalformedEvent as exc:
            raise Rejected(f"not a Stripe event: {exc}") from None
        return Delivery(row, headers_json(request), received_at)

    async def stripe_webhook(request: Request) -> JSONResponse:
        try:
            delivery = await receive_delivery(request)
        except Rejected as exc:
            counters.rejected += 1
            location = f"client {request.client.host}" if request.client else "client unknown"
            log.warning("rejected a delivery from %s: %s", location, exc.reason)
            await store.reject(location, exc.reason)
            return JSONResponse({"error": exc.reason}, status_code=exc.status)
        try:
            stored = await store.save(delivery)
        except WarehouseDown as exc:
            counters.unavailable += 1
            log.error("could not store %s (%s): %s", delivery.event_id, delivery.event_type, exc)
            return JSONResponse({"error": "warehouse unavailable, retry later"}, status_code=503,
                                headers={"Retry-After": "10"})
        if not stored:
            counters.duplicates += 1
            log.info("duplicate %s (%s)", delivery.event_id, delivery.event_type)
            return JSONResponse({"status": "duplicate", "event_id": delivery.event_id})
        counters.accepted += 1
        log.info("stored %s (%s)", delivery.event_id, delivery.event_type)
        return JSONResponse({"status": "stored", "event_id": delivery.event_id})

    async def healthz(request: Request) -> JSONResponse:
        if health is None:
            return JSONResponse({"status": "ok", **asdict(counters)})
        report = await anyio.to_thread.run_sync(health)
        # The same checks as `payops health`, but only the database decides the status: a stale refresh or a
        # stopped daemon must not take the receiver out of a load balancer and lose Stripe's deliveries.
        database_ok = all(check.status != "fail" for check in report.checks if check.name == "database")
        return JSONResponse({"status": "ok" if database_ok else "unavailable", **asdict(counters),
                             "health": report.as_dict()}, status_code=200 if database_ok else 503)

    @asynccontextmanager
    async def lifespan(app: Starlette):
        yield
        await store.close()

    return Starlette(routes=[Route("/webhooks/stripe", stripe_webhook, methods=["POST"]),
                             Route("/healthz", healthz, methods=["GET"])],
                     lifespan=lifespan)


def create_app(settings: Settings, engine: sa.Engine | None = None) -> Starlette:
    """The receiver on the warehouse: `engine` if given, else a pool of its own on a migrated warehouse."""
    if not settings.stripe_webhook_secrets:
        raise SettingsError(MISSING_SECRET)
    if engine is not None:
        return receiver_app(settings.stripe_webhook_secrets, PostgresStore(engine, owns_engine=False),
                            health=lambda: run_checks(settings))
    warehouse = ready_engine(settings)
    own = sa.create_engine(warehouse.url, pool_size=CONCURRENT_GROUPS, max_overflow=0, pool_pre_ping=True,
                           connect_args={"connect_timeout": 5})
    return receiver_app(settings.stripe_webhook_secrets, PostgresStore(own, owns_engine=True),
                        health=lambda: run_checks(settings))
