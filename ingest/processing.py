"""Process stored Stripe events into the per-object state tables (raw.stripe_charges, ...).

Every stored event enters ops.webhook_event_log as `received`. A worker claims a batch of due events (committed
as `processing`; SKIP LOCKED keeps concurrent workers off each other's events) and applies it in one statement
that reads each event once and upserts into every state table. An upsert only replaces a row by a newer state of
the object, ranked here and nowhere else (docs/decisions.md §9): newest event `created`, then the object's own
fields, then event id.
So batches may arrive in any order, run twice or side by side, and the state tables come out the same.

In the same statement, every object is checked against the shape the dbt models rely on (ingest/validation.py):
an event breaking it is held back as `failed` at once, with a message naming the field and its value, and never
reaches the state tables; `payops webhooks retry` brings it in once the cause (a currency missing from the seed)
is fixed. A batch whose statement fails (a payload a cast cannot read) is halved inside savepoints until each failing
event stands alone; those are retried with back-off and end `failed` after max_retries, the rest are applied.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from ingest.validation import EVENT_OBJECT, HELD_BACK, seed_currencies

DEFAULT_BATCH_SIZE = 5000
DEFAULT_MAX_RETRIES = 5
FIRST_RETRY_SECONDS = 30
LONGEST_RETRY_SECONDS = 6 * 3600
BATCH_WORK_MEM = "64MB"
"""Postgres' work_mem while a batch is applied: its objects (5,000 events of 2-3 kB) and the upserts' sorts fit in
memory instead of spilling to temporary files, which the state tables' six reads of the objects made a third of the
statement's time. A batch of larger events still spills past this; it is a cap, not an allocation."""
STUCK_AFTER = "10 minutes"
"""A batch still `processing` after this belongs to a worker that died; another worker takes it over."""

# The caller's `now` (tests travel in time) or the database's clock, which ops.retryable_webhook_events uses too.
CLOCK = "coalesce(cast(:now as timestamptz), now())"

# Mirrors dbt/macros/stripe_status_order.sql (a test keeps them equal): within one second the later status in
# an object's life wins; statuses in one group rank equal.
STATUS_ORDER: dict[str, list[list[str]]] = {
    "charge": [["pending"], ["failed"], ["succeeded"]],
    "payment_intent": [
        ["requires_payment_method"], ["requires_confirmation"], ["requires_action"],
        ["processing"], ["requires_capture"], ["succeeded", "canceled"],
    ],
    "refund": [["pending"], ["requires_action"], ["succeeded"], ["failed", "canceled"]],
    "dispute": [
        ["warning_needs_response", "needs_response"],
        ["warning_under_review", "under_review"],
        ["warning_closed", "won", "lost", "prevented"],
    ],
    "payout": [["pending"], ["in_transit"], ["paid", "failed", "canceled"]],
}

THE_EVENT_OBJECT = "$.data.object"


def status_rank(object_type: str) -> str:
    """SQL ranking `obj`'s status in its life; unknown statuses rank 0."""
    whens = " ".join(
        f"when '{status}' then {rank}"
        for rank, statuses in enumerate(STATUS_ORDER[object_type], 1)
        for status in statuses
    )
    return f"case obj ->> 'status' {whens} else 0 end"


@dataclass(frozen=True)
class StateTable:
    table: str
    """raw.<table>"""
    kind: str
    """the kind of object it holds (a key of ingest.validation.RULES)"""
    sources: dict[str, str]
    """event object_type -> JSON path to the objects of this kind in such an event"""
    tiebreak: tuple[str, ...]
    """bigint SQL expressions over `obj` ordering two states of one second (compared as an array, where NULL
    ranks highest)"""

    @property
    def upsert(self) -> str:
        """A data-modifying CTE over `objects` and `held_back` of batch_statement, answering a row per row written."""
        return f"""
            {self.table} as (
                insert into raw.{self.table} as state
                    (id, livemode, object, last_event_id, last_event_created_at, tiebreak)
                select distinct on (id) id, livemode, obj, event_id, created_at, tiebreak
                from (
                    select obj ->> 'id' as id, livemode, obj, event_id, created_at,
                           array[{", ".join(self.tiebreak)}]::bigint[] as tiebreak
                    from objects
                    where kind = '{self.kind}' and event_id not in (select event_id from held_back)
                ) as candidates
                -- id first also makes every worker lock rows in one order, so concurrent batches cannot deadlock
                order by id, created_at desc, tiebreak desc, event_id desc
                on conflict (id) do update set
                    livemode = excluded.livemode,
                    object = excluded.object,
                    last_event_id = excluded.last_event_id,
                    last_event_created_at = excluded.last_event_created_at,
                    tiebreak = excluded.tiebreak,
                    updated_at = now()
                where (excluded.last_event_created_at, excluded.tiebreak, excluded.last_event_id)
                    > (state.last_event_created_at, state.tiebreak, state.last_event_id)
                returning 1
            )"""


STATE_TABLES = (
    StateTable(
        "stripe_charges",
        "charge",
        {"charge": THE_EVENT_OBJECT},
        (status_rank("charge"), "(obj ->> 'captured')::boolean::int", "(obj ->> 'amount_refunded')::bigint"),
    ),
    StateTable("stripe_payment_intents", "payment_intent", {"payment_intent": THE_EVENT_OBJECT},
               (status_rank("payment_intent"),)),
    StateTable("stripe_refunds", "refund", {"refund": THE_EVENT_OBJECT}, (status_rank("refund"),)),
    StateTable("stripe_disputes", "dispute", {"dispute": THE_EVENT_OBJECT}, (status_rank("dispute"),)),
    # A paid payout's payout.reconciliation_completed can share its second with payout.paid: completed ranks later.
    StateTable(
        "stripe_payouts",
        "payout",
        {"payout": THE_EVENT_OBJECT},
        (status_rank("payout"), "(obj ->> 'reconciliation_status' = 'completed')::int"),
    ),
    # Disputes embed their balance transactions (funds withdrawn, reinstated); no tie-break beyond the event.
    StateTable(
        "stripe_balance_transactions",
        "balance_transaction",
        {"balance_transaction": THE_EVENT_OBJECT, "dispute": "$.data.object.balance_transactions[*]"},
        (),
    ),
)


def batch_statement(held_back: str = HELD_BACK) -> sa.TextClause:
    """The one statement applying a batch (`:event_ids`): it reads each event once, extracting the objects of
    every state table (an event of a type none models gives its `data.object` as ingest.validation's EVENT_OBJECT),
    runs `held_back` over them (SQL naming the events to hold back, and why: ingest.validation.HELD_BACK), and
    upserts the other events' objects into every state table. Answers one row: the held-back events as a json
    object of event id -> message, and the rows written per state table.

    `held_back` is a parameter so that bench/validation_bench.py can time the same statement without checks."""
    sources = ", ".join(f"('{object_type}', '{table.kind}', '{path}'::jsonpath)"
                        for table in STATE_TABLES for object_type, path in table.sources.items())
    return sa.text(f"""
        with objects as materialized (
            select events.event_id, events.livemode, events.created_at,
                   coalesce(sources.kind, '{EVENT_OBJECT}') as kind, obj
            from raw.stripe_events as events
            left join (values {sources}) as sources (object_type, kind, path) using (object_type)
            cross join lateral jsonb_path_query(events.payload, coalesce(sources.path, '{THE_EVENT_OBJECT}')) as obj
            where events.event_id = any(:event_ids) and jsonb_typeof(obj) = 'object'
        ),
        held_back as materialized ({held_back}),
        {", ".join(table.upsert for table in STATE_TABLES)}
        select (select coalesce(jsonb_object_agg(event_id, message), '{{}}') from held_back) as held_back,
            {", ".join(f"(select count(*) from {table.table}) as {table.table}" for table in STATE_TABLES)}
    """)


APPLY_BATCH = batch_statement()

CLAIM = sa.text(f"""
    update ops.webhook_event_log
    set status = 'processing', processing_started_at = {CLOCK}
    where event_id in (
        select event_id from ops.webhook_event_log
        where status = 'received'
           or (status = 'retrying' and next_retry_at <= {CLOCK})
           or (status = 'processing' and processing_started_at < {CLOCK} - interval '{STUCK_AFTER}')
        limit :batch_size
        for update skip locked
    )
    returning event_id
""")

MARK_PROCESSED = sa.text(f"""
    update ops.webhook_event_log
    set status = 'processed', processed_at = {CLOCK}, processing_ms = :processing_ms,
        error_message = null, next_retry_at = null
    where event_id = any(:event_ids) and status = 'processing'
""")

# Attempt n (retry_count n-1 before it) that fails waits FIRST_RETRY_SECONDS * 2^(n-1); the max_retries-th is final.
MARK_FAILED = sa.text(f"""
    update ops.webhook_event_log
    set retry_count = retry_count + 1,
        status = case when retry_count + 1 >= :max_retries then 'failed' else 'retrying' end,
        next_retry_at = case when retry_count + 1 < :max_retries then
            {CLOCK} + make_interval(secs => least({FIRST_RETRY_SECONDS} * 2 ^ retry_count, {LONGEST_RETRY_SECONDS}))
        end,
        error_message = :error_message, processing_ms = :processing_ms
    where event_id = :event_id and status = 'processing'
    returning status
""")


# An object the models cannot read will not change on a retry: held back at once, not after max_retries.
MARK_HELD_BACK = sa.text(f"""
    update ops.webhook_event_log
    set status = 'failed', retry_count = retry_count + 1, next_retry_at = null, processed_at = null,
        error_message = :error_message, processing_ms = :processing_ms, processing_started_at = {CLOCK}
    where event_id = :event_id and status = 'processing'
""")


@dataclass
class ProcessResult:
    processed: int = 0
    """events applied (or of a type we do not model) and marked processed"""
    retrying: int = 0
    """events that failed and are scheduled for another attempt"""
    failed: int = 0
    """events that failed for the last time: see ops.failed_webhook_events"""
    held_back: int = 0
    """of `failed`, events whose object breaks the shape the models rely on (ingest/validation.py)"""
    batches: int = 0
    seconds: float = 0.0
    rows_written: Counter[str] = field(default_factory=Counter)
    """state rows inserted or replaced by a newer state, per table"""

    @property
    def events(self) -> int:
        return self.processed + self.retrying + self.failed

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        return (f"{self.processed} processed, {self.retrying} retrying, {self.failed} failed "
                f"({self.held_back} held back as invalid) "
                f"in {self.batches} batch(es), {self.events_per_second:,.0f} events/s")


def process_pending(
    engine: sa.Engine,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    now: datetime | None = None,
    max_retries: int = DEFAULT_MAX_RETRIES,
) -> ProcessResult:
    """Process due events batch after batch until none is due, and return what happened to them.

    Due: `received`, `retrying` with next_retry_at <= now, or `processing` for longer than STUCK_AFTER.
    `now` defaults to the database's clock. An event failing for the max_retries-th time ends `failed`.
    """
    result = ProcessResult()
    started = time.perf_counter()
    while event_ids := _claim(engine, batch_size, now):
        _process_batch(engine, event_ids, now, max_retries, result)
    result.seconds = time.perf_counter() - started
    return result


def reprocess_all(engine: sa.Engine, *, batch_size: int = DEFAULT_BATCH_SIZE) -> ProcessResult:
    """Rebuild the state tables from every stored event, e.g. after a fix to the processing rules.

    The state tables are emptied rather than overwritten, so rows the old rules chose cannot survive; until
    the run ends they hold only part of the objects.
    """
    with engine.begin() as conn:
        conn.execute(sa.text(f"truncate {', '.join(f'raw.{t.table}' for t in STATE_TABLES)}"))
        conn.execute(sa.text("""
            update ops.webhook_event_log
            set status = 'received', processing_started_at = null, processed_at = null, processing_ms = null,
                error_message = null, retry_count = 0, next_retry_at = null
        """))
    return process_pending(engine, batch_size=batch_size)


def retry_failed(engine: sa.Engine, *, event_id: str | None = None) -> int:
    """Make failed events (all, or the one given) due now with a fresh retry budget; returns how many."""
    with engine.begin() as conn:
        return conn.execute(
            sa.text("""
                update ops.webhook_event_log
                set status = 'retrying', retry_count = 0, next_retry_at = now()
                where status = 'failed' and (cast(:event_id as text) is null or event_id = :event_id)
            """),
            {"event_id": event_id},
        ).rowcount


def _claim(engine: sa.Engine, batch_size: int, now: datetime | None) -> list[str]:
    # Committed on its own so that the claim is visible (to the UI and other workers) while the batch runs.
    with engine.begin() as conn:
        return list(conn.execute(CLAIM, {"batch_size": batch_size, "now": now}).scalars())


def _process_batch(
    engine: sa.Engine, event_ids: list[str], now: datetime | None, max_retries: int, result: ProcessResult
) -> None:
    started = time.perf_counter()
    held_back: dict[str, str] = {}
    failures: dict[str, str] = {}
    # State, failures and `processed` commit together: a crash leaves the batch `processing`, to be taken over.
    with engine.begin() as conn:
        conn.execute(sa.text(f"set local work_mem = '{BATCH_WORK_MEM}'"))
        _apply_isolating_failures(conn, event_ids, seed_currencies(), held_back, failures, result.rows_written)
        processing_ms = (time.perf_counter() - started) * 1000
        for event_id, error_message in held_back.items():
            conn.execute(MARK_HELD_BACK, {"event_id": event_id, "error_message": error_message,
                                          "processing_ms": processing_ms, "now": now})
        for event_id, error_message in failures.items():
            status = conn.execute(MARK_FAILED, {
                "event_id": event_id, "error_message": error_message, "processing_ms": processing_ms,
                "max_retries": max_retries, "now": now,
            }).scalar()
            result.failed += status == "failed"
            result.retrying += status == "retrying"
        applied = [e for e in event_ids if e not in held_back and e not in failures]
        conn.execute(MARK_PROCESSED, {"event_ids": applied, "processing_ms": processing_ms, "now": now})
    result.processed += len(applied)
    result.failed += len(held_back)
    result.held_back += len(held_back)
    result.batches += 1


def _apply_isolating_failures(
    conn: sa.Connection, event_ids: list[str], currencies: list[str], held_back: dict[str, str],
    failures: dict[str, str], rows_written: Counter[str],
) -> None:
    """Apply the events (APPLY_BATCH) and note those held back; when that fails, halve and retry each half, down
    to single events, whose errors go into `failures`. All-or-nothing per event, thanks to the savepoints."""
    try:
        with conn.begin_nested():
            applied = conn.execute(APPLY_BATCH, {"event_ids": event_ids, "currencies": currencies}).one()
    except sa.exc.DBAPIError as exc:
        if exc.connection_invalidated:
            raise
        if len(event_ids) == 1:
            failures[event_ids[0]] = _error_message(exc)
            return
        middle = len(event_ids) // 2
        for half in (event_ids[:middle], event_ids[middle:]):
            _apply_isolating_failures(conn, half, currencies, held_back, failures, rows_written)
        return
    held_back.update(applied.held_back)
    rows_written.update({table.table: applied._mapping[table.table] for table in STATE_TABLES})


def _error_message(exc: sa.exc.DBAPIError) -> str:
    return str(exc.orig).strip() if exc.orig else str(exc)


@dataclass(frozen=True)
class HeldBack:
    count: int
    """events in `failed`"""
    sample: list[tuple[str, str]]
    """(event id, error) of the most recent few"""


def held_back(engine: sa.Engine, sample_size: int = 5) -> HeldBack:
    """The events processing holds back (`failed`), with the reasons of the latest few."""
    with engine.connect() as conn:
        count = conn.execute(sa.text("select count(*) from ops.webhook_event_log where status = 'failed'")).scalar()
        sample = conn.execute(sa.text("""
            select event_id, error_message from ops.webhook_event_log
            where status = 'failed' order by processing_started_at desc nulls last, event_id limit :n
        """), {"n": sample_size}).all()
    return HeldBack(count, [(event_id, error) for event_id, error in sample])
