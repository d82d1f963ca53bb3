"""The Stripe webhook receiver: verify the signature, commit the delivery, and only then answer 2xx.

Stripe retries any delivery not answered 2xx (for up to 3 days in live mode), so the one rule here is that a
2xx means the event is committed in raw.stripe_events (with its exact body and headers) and queued in
ops.webhook_event_log. Only an unreachable warehouse is a 503, which Stripe retries; anything that will never be
an event (bad signature, a timestamp too old or in the future, not a Stripe event, too large, content Postgres
refuses) is a 400/413. Refusals are counted per reason and minute in ops.webhook_rejections, flushed about once
a second with a few samples, never the body, and logged as one line of counts each flush: a flood costs no row
and no log line per request. Processing is not done here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
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
from ingest.stripe_events import MAX_EVENT_BYTES, MalformedEvent, parse_event
from payops.db import ready_engine
from payops.settings import Settings, SettingsError

log = logging.getLogger(__name__)

MAX_BODY_BYTES = MAX_EVENT_BYTES
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
SAMPLES_KEPT = 5
COUNT_REJECTIONS = f"""
insert into ops.webhook_rejections as counted (minute, reason, status, count, samples)
values (%s, %s, %s, %s, %s)
on conflict (minute, reason) do update set
    count = counted.count + excluded.count,
    samples = (counted.samples || excluded.samples)[1:{SAMPLES_KEPT}]
"""
REJECTIONS_FLUSH_SECONDS = 1.0
# SQLSTATE classes of a warehouse that cannot take anything now (connection, resources, operator intervention,
# system, internal, transaction rollback): 503, retried. Any other error Postgres answers refuses the content.
UNAVAILABLE_SQLSTATE_CLASSES = ("08", "53", "57", "58", "XX", "40")


class Rejected(Exception):
    """A delivery that will never be an event: answered with `status` and a short reason. `kind` is the reason's
    fixed part, which rejections are counted by (the detail may carry anything the client sent)."""

    def __init__(self, reason: str, status: int = 400, kind: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.kind = kind or reason


class WarehouseDown(Exception):
    """The delivery could not be committed now; Stripe should retry it."""

    def __init__(self, cause: str, rejected_data: bool = False):
        super().__init__(cause)
        self.rejected_data = rejected_data


@dataclass
class RejectionCount:
    status: int
    count: int = 0
    samples: list[str] = field(default_factory=list)


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

    async def reject(self, location: str, rejected: Rejected) -> None:
        """Count a rejection, best effort."""

    async def ping(self) -> bool:
        """True when the warehouse answers."""

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
        self.rejections: dict[tuple[datetime, str], RejectionCount] = {}
        self.rejections_flusher: asyncio.Task | None = None

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
            refused: Exception = exc
            if exc.rejected_data:  # alone, so it is this delivery's content: a retry would be refused again
                refused = Rejected(f"the warehouse refused the event: {exc}", kind="refused by the warehouse")
            for _, answer in group:
                if not answer.done():
                    answer.set_exception(refused)
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

    def _write_rejections(self, counted: dict[tuple[datetime, str], RejectionCount]) -> None:
        rows = [(minute, kind, c.status, c.count, c.samples) for (minute, kind), c in counted.items()]
        with self.engine.begin() as conn:
            conn.exec_driver_sql(COUNT_REJECTIONS, rows)

    def _select_one(self) -> None:
        with self.engine.connect() as conn:
            conn.exec_driver_sql("select 1")

    async def _in_thread(self, function, *args):
        try:
            return await anyio.to_thread.run_sync(function, *args, limiter=self.limiter)
        except sa.exc.SQLAlchemyError as exc:
            # str(exc) would carry the statement's parameters, that is the body: log the driver's cause only.
            raise WarehouseDown(_cause(exc), rejected_data=_is_data_error(exc)) from None

    async def reject(self, location: str, rejected: Rejected) -> None:
        """Counted in memory and written by one flush a second: a flood costs a few rows a minute."""
        minute = datetime.now(UTC).replace(second=0, microsecond=0)
        counted = self.rejections.setdefault((minute, rejected.kind), RejectionCount(rejected.status))
        counted.count += 1
        if len(counted.samples) < SAMPLES_KEPT:
            counted.samples.append(f"{location}: {rejected.reason}"[:300])
        if self.rejections_flusher is None or self.rejections_flusher.done():
            self.rejections_flusher = asyncio.create_task(self._flush_rejections_soon())

    async def _flush_rejections_soon(self) -> None:
        await asyncio.sleep(REJECTIONS_FLUSH_SECONDS)
        await self.flush_rejections()

    async def flush_rejections(self) -> None:
        counted, self.rejections = self.rejections, {}
        if not counted:
            return
        log.warning("refused deliveries since the last count: %s",
                    "; ".join(f"{c.count} {kind}" for (_, kind), c in counted.items()))
        try:
            await self._in_thread(self._write_rejections, counted)
        except WarehouseDown as exc:
            log.warning("could not count %d rejected deliveries: %s", sum(c.count for c in counted.values()), exc)

    async def ping(self) -> bool:
        try:
            # Not behind the writers' limiter: a health probe must not queue behind a backlog of deliveries.
            await anyio.to_thread.run_sync(self._select_one)
        except sa.exc.SQLAlchemyError as exc:
            log.error("the warehouse does not answer: %s", _cause(exc))
            return False
        return True

    async def close(self) -> None:
        if self.rejections_flusher is not None:
            self.rejections_flusher.cancel()
        await self.flush_rejections()
        if self.owns_engine:
            self.engine.dispose()


def _is_data_error(exc: sa.exc.SQLAlchemyError) -> bool:
    """Postgres answered and refused the rows (a constraint, a value, an id too long to index), whatever
    exception class the driver gives it; not a lost or unreachable connection, which has no SQLSTATE."""
    sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return (isinstance(exc, sa.exc.DBAPIError) and not exc.connection_invalidated and sqlstate is not None
            and not sqlstate.startswith(UNAVAILABLE_SQLSTATE_CLASSES))


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
    """Pass if any configured secret signed this body within the tolerance, neither too old nor more than the
    tolerance in the future (the SDK checks only the past); raise Rejected otherwise."""
    if not header:
        raise Rejected("missing Stripe-Signature header")
    if not header.isascii():
        # hmac.compare_digest raises TypeError on a non-ASCII str: refused before it gets there.
        raise Rejected("Stripe-Signature header is not ASCII", kind="malformed Stripe-Signature header")
    failures = []
    for secret in secrets:
        try:
            stripe.WebhookSignature.verify_header(text, header, secret, tolerance=SIGNATURE_TOLERANCE_SECONDS)
        except stripe.SignatureVerificationError as exc:
            failures.append(str(exc))
            continue
        signed_at = int(next(item for item in header.split(",") if item.strip().startswith("t=")).split("=", 1)[1])
        if signed_at > time.time() + SIGNATURE_TOLERANCE_SECONDS:
            raise Rejected("Timestamp in the future (more than the tolerance)", kind="timestamp outside the tolerance")
        return
    # A signature that matched but is too old says more than the mismatches of the other secrets.
    stale = next((f for f in failures if f.startswith("Timestamp outside")), None)
    if stale:
        raise Rejected(stale, kind="timestamp outside the tolerance")
    raise Rejected(failures[0], kind="bad signature")


async def read_limited(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    too_large = Rejected(f"body over {MAX_BODY_BYTES} bytes", status=413, kind="too large")
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
            raise Rejected("body is not UTF-8", kind="not a Stripe event") from None
        verify_signature(text, request.headers.get("stripe-signature"), secrets)
        try:
            row = parse_event(body)
        except MalformedEvent as exc:
            raise Rejected(f"not a Stripe event: {exc}", kind="not a Stripe event") from None
        return Delivery(row, headers_json(request), received_at)

    async def refuse(request: Request, rejected: Rejected) -> JSONResponse:
        counters.rejected += 1
        location = f"client {request.client.host}" if request.client else "client unknown"
        # Debug only: a flood of junk must not write a log line a request; the store logs its counts (PostgresStore).
        log.debug("rejected a delivery from %s: %s", location, rejected.reason)
        await store.reject(location, rejected)
        return JSONResponse({"error": rejected.reason}, status_code=rejected.status)

    async def stripe_webhook(request: Request) -> JSONResponse:
        try:
            delivery = await receive_delivery(request)
        except Rejected as exc:
            return await refuse(request, exc)
        try:
            stored = await store.save(delivery)
        except Rejected as exc:
            return await refuse(request, exc)
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
            if not await store.ping():
                return JSONResponse({"status": "warehouse unreachable", **asdict(counters)}, status_code=503)
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
