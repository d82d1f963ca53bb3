"""raw.stripe_events' monthly partitions: make them ahead of time, list them, and archive old months to Parquet.

The table is partitioned by the month (UTC) of each event's `created` (migration 0010, docs/decisions.md).
Archiving a month detaches its partition, writes its events and their webhook-log rows to Parquet, and drops
it, while the receiver keeps storing: the only lock every writer waits for is the detach's, a catalog change
held for milliseconds, and it is tried with a short lock timeout so it never queues behind a long reader
with the receivers queued behind it.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import psycopg
import sqlalchemy as sa

from payops.errors import PayopsError
from payops.parquet import write_parquet

log = logging.getLogger(__name__)

MONTHS_AHEAD = 3
"""Partitions made past the current month, so a month's partition exists long before its first event."""
DETACH_LOCK_TIMEOUT = "500ms"
DETACH_ATTEMPTS = 20
PARTITION_NAME = re.compile(r"^stripe_events_(\d{4})_(\d{2})$")
FINISHED_STATUSES = ("processed",)


class ArchiveRefused(PayopsError, ValueError):
    """A month cannot be archived as asked; the message says why and what to do."""


@dataclass(frozen=True)
class Partition:
    month: date
    name: str
    events: int


@dataclass(frozen=True)
class ArchivedMonth:
    month: date
    events: int
    log_rows: int
    events_path: Path
    log_path: Path
    events_sha256: str


def month_start(value: date) -> date:
    return value.replace(day=1)


def add_months(value: date, months: int) -> date:
    index = value.year * 12 + value.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def parse_month(text: str) -> date:
    """YYYY-MM as the first day of that month; raises ArchiveRefused with the expected form."""
    try:
        return datetime.strptime(text, "%Y-%m").date()
    except ValueError:
        raise ArchiveRefused(f"{text!r} is not a month: write it as YYYY-MM, e.g. 2026-01") from None


def partition_name(month: date) -> str:
    return f"stripe_events_{month:%Y_%m}"


def ensure_partitions(engine: sa.Engine, months_ahead: int = MONTHS_AHEAD, today: date | None = None) -> int:
    """Make the partitions of this month and the next `months_ahead` that do not exist; returns how many were made.
    Events that waited in the default partition for one of those months move into it."""
    this_month = month_start(today or datetime.now(UTC).date())
    with engine.begin() as conn:
        return conn.execute(sa.text("select raw.ensure_stripe_events_partitions(:first, :last)"),
                            {"first": this_month, "last": add_months(this_month, months_ahead)}).scalar_one()


def list_partitions(engine: sa.Engine) -> list[Partition]:
    """Every monthly partition attached to raw.stripe_events, oldest first, with its (estimated) event count."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text("""
            select child.relname, greatest(child.reltuples, 0)::bigint
            from pg_inherits
            join pg_class as child on child.oid = pg_inherits.inhrelid
            where pg_inherits.inhparent = 'raw.stripe_events'::regclass
        """)).all()
    partitions = [Partition(_month_of(name), name, events) for name, events in rows if PARTITION_NAME.match(name)]
    return sorted(partitions, key=lambda partition: partition.month)


def _month_of(name: str) -> date:
    year, month = PARTITION_NAME.match(name).groups()
    return date(int(year), int(month), 1)


def archive_before(engine: sa.Engine, before: date, out_dir: Path, today: date | None = None) -> list[ArchivedMonth]:
    """Archive every monthly partition of raw.stripe_events older than `before` (a month) into `out_dir`.

    Refuses a month whose events are not all processed (processing reads raw.stripe_events) and months not yet
    over. A month detached by an archive that stopped half-way is finished first. Returns what was archived.
    """
    before = month_start(before)
    this_month = month_start(today or datetime.now(UTC).date())
    if before > this_month:
        raise ArchiveRefused(f"--before {before:%Y-%m} is after the current month ({this_month:%Y-%m}): "
                             "only months that are over can be archived")
    # Events that waited in the default partition (history replayed before its months were made) get theirs first.
    ensure_partitions(engine, today=this_month)
    months = sorted({*_detached_months(engine), *(p.month for p in list_partitions(engine))})
    archived = []
    for month in (m for m in months if m < before):
        archived.append(_archive_month(engine, month, out_dir))
    return archived


def _detached_months(engine: sa.Engine) -> list[date]:
    """Months whose table exists but is no longer a partition: an archive stopped between detach and drop."""
    with engine.connect() as conn:
        names = conn.execute(sa.text("""
            select relname from pg_class
            where relnamespace = 'raw'::regnamespace and relkind = 'r' and not relispartition
              and relname ~ '^stripe_events_[0-9]{4}_[0-9]{2}$'
        """)).scalars()
        return [_month_of(name) for name in names]


def _unfinished(conn: sa.Connection, table: str) -> dict[str, int]:
    rows = conn.execute(sa.text(f"""
        select coalesce(log.status, 'not in the log') as status, count(*)
        from raw.{table} as events
        left join ops.webhook_event_log as log using (event_id)
        where log.status is null or log.status <> all(:finished)
        group by 1
    """), {"finished": list(FINISHED_STATUSES)}).all()
    return dict(rows)


def _refusal(month: date, unfinished: dict[str, int]) -> ArchiveRefused:
    counts = ", ".join(f"{count} {status}" for status, count in sorted(unfinished.items()))
    return ArchiveRefused(f"{month:%Y-%m} still has events not processed ({counts}): run processing "
                          "(`payops refresh`, or `payops webhooks retry --failed` for failed ones) and archive again")


def _archive_month(engine: sa.Engine, month: date, out_dir: Path) -> ArchivedMonth:
    table = partition_name(month)
    with engine.connect() as conn:
        archived_to = conn.execute(sa.text("select events_path from ops.archived_stripe_event_months"
                                           " where month = :month"), {"month": month}).scalar()
        if archived_to is not None:
            raise ArchiveRefused(f"{month:%Y-%m} was archived before (to {archived_to}) and has a partition again: "
                                 f"move its events elsewhere or archive it by hand, so {archived_to} is not replaced")
        unfinished = _unfinished(conn, table)
    if unfinished:
        raise _refusal(month, unfinished)
    _detach(engine, table)
    with engine.begin() as conn:
        # A late event may have been stored between the check and the detach: put the month back rather than
        # archive an event processing has not seen.
        unfinished = _unfinished(conn, table)
        if unfinished:
            lower, upper = month, add_months(month, 1)
            conn.execute(sa.text(f"alter table raw.stripe_events attach partition raw.{table} "
                                 f"for values from ('{lower}T00:00:00Z') to ('{upper}T00:00:00Z')"))
    if unfinished:
        raise _refusal(month, unfinished)
    events_path = out_dir / "stripe_events" / f"{month:%Y-%m}.parquet"
    log_path = out_dir / "webhook_event_log" / f"{month:%Y-%m}.parquet"
    with engine.begin() as conn:
        events = write_parquet(conn, "raw", table, f"select * from raw.{table} order by event_id", events_path)
        log_rows = write_parquet(
            conn, "ops", "webhook_event_log",
            f"select log.* from ops.webhook_event_log as log join raw.{table} using (event_id) order by event_id",
            log_path)
        conn.execute(sa.text(f"delete from ops.webhook_event_log as log using raw.{table} as events "
                             "where log.event_id = events.event_id"))
        digest = hashlib.sha256(events_path.read_bytes()).hexdigest()
        conn.execute(sa.text("""
            insert into ops.archived_stripe_event_months
                (month, events, log_rows, events_path, log_path, events_sha256)
            values (:month, :events, :log_rows, :events_path, :log_path, :sha)
        """), {"month": month, "events": events, "log_rows": log_rows, "events_path": str(events_path),
               "log_path": str(log_path), "sha": digest})
        conn.execute(sa.text(f"drop table raw.{table}"))
    log.info("archived %s: %d events, %d log rows -> %s", month.strftime("%Y-%m"), events, log_rows, events_path)
    return ArchivedMonth(month, events, log_rows, events_path, log_path, digest)


def _detach(engine: sa.Engine, table: str) -> None:
    """DETACH takes an exclusive lock on raw.stripe_events for a catalog change. Waiting for it behind a long
    reader would queue every writer behind us, so each try gives up after DETACH_LOCK_TIMEOUT and waits."""
    for attempt in range(1, DETACH_ATTEMPTS + 1):
        try:
            with engine.begin() as conn:
                if conn.execute(sa.text("select relispartition from pg_class where oid = :table ::regclass"),
                                {"table": f"raw.{table}"}).scalar_one() is False:
                    return  # detached by an archive that stopped before dropping it
                conn.execute(sa.text(f"set local lock_timeout = '{DETACH_LOCK_TIMEOUT}'"))
                conn.execute(sa.text(f"alter table raw.stripe_events detach partition raw.{table}"))
                return
        except sa.exc.OperationalError as exc:
            if not isinstance(exc.orig, psycopg.errors.LockNotAvailable) or attempt == DETACH_ATTEMPTS:
                raise
            log.info("raw.stripe_events busy; detaching %s again (attempt %d)", table, attempt + 1)
            time.sleep(0.2 * attempt)
