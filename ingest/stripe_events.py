"""Replay Stripe event JSON (single events, Stripe list pages, or JSON Lines) into raw.stripe_events.

The event id is the primary key, so loading the same events again changes nothing. Events are written with
binary COPY in batches of bounded size, so memory stays flat whatever the input size, and duplicates (in the
input or already stored) are counted rather than failing the load. Every new event enters the webhook event log
as `received`, whatever its source, so processing sees it.
"""

from __future__ import annotations

import logging
import queue
import struct
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import orjson
import psycopg
import sqlalchemy as sa
from tqdm import tqdm

from ingest.validation import MAX_UNIX_SECONDS
from payops.errors import PayopsError

log = logging.getLogger(__name__)

EVENT_FILE_SUFFIXES = (".json", ".jsonl", ".ndjson")
LINE_DELIMITED_SUFFIXES = (".jsonl", ".ndjson")
# Batches are held in memory (about 2 KB an event, three batches at most), so their size bounds memory.
FLUSH_EVERY_ROWS = 10_000
RECENT_IDS = 50_000
"""Ids of earlier batches kept to recognise a redelivery in the input before it reaches the server: generated and
exported files hold an event's redeliveries within ~25,000 lines of it. Between RECENT_IDS and twice as many."""
MAX_WRITE_ATTEMPTS = 3
MAX_EVENT_BYTES = 1 << 20
"""The receiver's limit too: an event no webhook could deliver is refused from a file as well."""
EVENT_COLUMNS = ("event_id", "event_type", "api_version", "livemode", "created_at", "object_type", "object_id",
                 "payload")


# COPY's binary format (PostgreSQL docs, COPY, "Binary Format"): a signature, then per row a field count and each
# field as its length and bytes, then a trailer. The raw JSON line passes through to jsonb untouched (jsonb's binary
# input is a version byte and the text): no decode or escaping here, and the server reads each field by its length
# instead of scanning the payload for delimiters.
COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
COPY_TRAILER = b"\xff\xff"
COPY_NULL = b"\xff\xff\xff\xff"
COPY_BOOLEAN = {True: b"\x00\x00\x00\x01\x01", False: b"\x00\x00\x00\x01\x00"}
COPY_TIMESTAMP = struct.Struct(">iq")
"""Length 8, then microseconds since 2000-01-01 UTC."""
POSTGRES_EPOCH = 946_684_800
JSONB_VERSION = b"\x01"
STAGE_FIELDS = (len(EVENT_COLUMNS) + 1).to_bytes(2, "big")
"""The event's columns and its source."""

# One index probe per event, in the partition of its month only (migration 0010): a plain `event_id = any(...)`
# makes the planner expect the whole batch in every partition and scan each one whole, which grows with the table.
ALREADY_STORED = """
select batch.event_id
from unnest(%s::text[], %s::timestamptz[]) as batch (event_id, created_at)
cross join lateral (
    select from raw.stripe_events as stored
    where stored.event_id = batch.event_id and stored.created_at = batch.created_at
    limit 1
) as found
"""


class InputNotFound(PayopsError, FileNotFoundError):
    pass


@dataclass(frozen=True)
class Rejection:
    location: str
    reason: str


@dataclass
class LoadResult:
    loaded: int = 0
    duplicates: int = 0
    rejected: int = 0
    files: int = 0
    rejections: list[Rejection] = field(default_factory=list)

    def add(self, other: LoadResult) -> None:
        self.loaded += other.loaded
        self.duplicates += other.duplicates
        self.rejected += other.rejected
        self.files += other.files
        self.rejections.extend(other.rejections)

    def summary(self) -> str:
        return (
            f"{self.files} file(s): {self.loaded} loaded, {self.duplicates} duplicate, {self.rejected} rejected"
        )


class MalformedEvent(ValueError):
    pass


def _checked(event: object) -> tuple:
    """The columns we index an event by, `created` in unix seconds, checked to be what Stripe sends; raises
    MalformedEvent."""
    if not isinstance(event, dict):
        raise MalformedEvent("not a JSON object")
    if event.get("object") != "event":
        raise MalformedEvent(f"object is {event.get('object')!r}, not 'event'")
    event_id, event_type, created = event.get("id"), event.get("type"), event.get("created")
    if not isinstance(event_id, str) or not event_id:
        raise MalformedEvent("missing event id")
    if not isinstance(event_type, str) or not event_type:
        raise MalformedEvent(f"{event_id}: missing type")
    if not isinstance(created, int) or isinstance(created, bool) or not 0 <= created <= MAX_UNIX_SECONDS:
        raise MalformedEvent(f"{event_id}: created is {str(created)[:40]}, want a unix timestamp from 0 to "
                             f"{MAX_UNIX_SECONDS}")
    livemode = event.get("livemode")
    if not isinstance(livemode, bool):
        raise MalformedEvent(f"{event_id}: livemode is not a boolean")
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(obj, dict):
        raise MalformedEvent(f"{event_id}: data.object is missing")
    for name, value in (("api_version", event.get("api_version")), ("data.object.object", obj.get("object")),
                        ("data.object.id", obj.get("id"))):
        if value is not None and not isinstance(value, str):
            raise MalformedEvent(f"{event_id}: {name} is {str(value)[:40]}, want a string")
    return event_id, event_type, event.get("api_version"), livemode, created, obj.get("object"), obj.get("id")


def event_row(event: object) -> tuple:
    """The columns we index an event by, checked to be what Stripe sends; raises MalformedEvent."""
    event_id, event_type, api_version, livemode, created, object_type, object_id = _checked(event)
    return event_id, event_type, api_version, livemode, datetime.fromtimestamp(created, UTC), object_type, object_id


def _decoded(raw: bytes) -> object:
    if len(raw) > MAX_EVENT_BYTES:
        raise MalformedEvent(f"event of {len(raw):,} bytes, over the {MAX_EVENT_BYTES:,} a webhook may carry")
    # Postgres jsonb cannot hold the NUL character; catching it here keeps one bad event from failing a batch. Most
    # events hold no backslash at all, and looking for one byte costs a third of looking for the six.
    if b"\\" in raw and b"\\u0000" in raw:
        raise MalformedEvent("contains a \\u0000 escape, which Postgres cannot store")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MalformedEvent(f"invalid JSON: {exc}") from None


def parse_event(raw: bytes) -> tuple:
    """One stage row from the raw JSON of one event; the raw text is kept as the payload."""
    return (*event_row(_decoded(raw)), raw.decode())


def _copy_text(value: str | None) -> bytes:
    if value is None:
        return COPY_NULL
    data = value.encode()
    return len(data).to_bytes(4, "big") + data


def stage_row(raw: bytes, source: bytes) -> tuple[str, int, bytes]:
    """(event id, created, its row of raw.stripe_events in COPY's binary format) from the raw JSON of one event;
    `source` is already a binary COPY field."""
    event_id, event_type, api_version, livemode, created, object_type, object_id = _checked(_decoded(raw))
    row = b"".join((
        STAGE_FIELDS, _copy_text(event_id), _copy_text(event_type), _copy_text(api_version), COPY_BOOLEAN[livemode],
        COPY_TIMESTAMP.pack(8, (created - POSTGRES_EPOCH) * 1_000_000), _copy_text(object_type),
        _copy_text(object_id), (len(raw) + 1).to_bytes(4, "big"), JSONB_VERSION, raw, source,
    ))
    return event_id, created, row


def expand_paths(paths: Iterable[Path | str]) -> list[Path]:
    """Files named, and event files found under folders named, in a stable order."""
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in EVENT_FILE_SUFFIXES))
        elif path.is_file():
            files.append(path)
        else:
            raise InputNotFound(f"{path}: no such file or directory")
    return files


def read_file(path: Path) -> Iterator[tuple[str, bytes]]:
    """(location, raw event JSON) for each event in a file: JSON Lines, one event, or a Stripe list page."""
    if path.suffix in LINE_DELIMITED_SUFFIXES:
        with path.open("rb") as lines:
            for number, line in enumerate(lines, 1):
                if line.strip():
                    yield f"{path}:{number}", line.rstrip(b"\r\n")
        return
    body = path.read_bytes()
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        yield f"{path}:1", body  # parse_event reports it with the decoder's message
        return
    if isinstance(document, dict) and document.get("object") == "list":
        for number, event in enumerate(document.get("data") or [], 1):
            yield f"{path}:data[{number - 1}]", orjson.dumps(event)
    else:
        yield f"{path}:1", body


class _Batches:
    """Events collected in memory and stored in batches by a writer thread, one transaction each.

    Each batch is COPYed straight into raw.stripe_events and the webhook event log: no staging table, so the
    server parses each payload once, as a plain COPY would. The writer thread lets Postgres store one batch while
    this thread parses the next. A redelivery within one batch, or of an event of a recent batch, is counted here.
    The COPY does not look for stored events first: a batch holding one (an earlier load, or a concurrent writer
    such as the webhook receiver) fails on the primary key, is rolled back and written again without every event
    found stored.
    """

    def __init__(self, engine: sa.Engine, source: str):
        self.engine = engine
        self.source = _copy_text(source)
        self.rows: dict[str, tuple[int, bytes]] = {}
        self.pending = 0
        self.recent: set[str] = set()
        self.older_recent: set[str] = set()
        # One batch queued while one is written bounds memory at about three batches.
        self.queue: queue.Queue[tuple[dict[str, tuple[int, bytes]], int] | None] = queue.Queue(maxsize=1)
        self.stored = self.duplicates = 0
        self.error: BaseException | None = None

    def __enter__(self) -> _Batches:
        self.conn = self.engine.raw_connection()
        self.driver = self.conn.driver_connection
        self.writer = threading.Thread(target=self._write_batches, name="replay-writer", daemon=True)
        self.writer.start()
        return self

    def write(self, raw: bytes) -> None:
        """Parse and check one event (raises MalformedEvent) and add it to the batch, unless it is a redelivery:
        the first delivery is kept."""
        event_id, created, row = stage_row(raw, self.source)
        self.pending += 1
        if event_id not in self.rows and event_id not in self.recent and event_id not in self.older_recent:
            self.rows[event_id] = created, row

    def flush(self) -> None:
        """Hand the batch to the writer; waits only while the writer is still busy with the one before."""
        if self.pending:
            self.recent.update(self.rows)
            if len(self.recent) >= RECENT_IDS:
                self.older_recent, self.recent = self.recent, set()
            self.queue.put((self.rows, self.pending))
            self.rows, self.pending = {}, 0

    def drain(self) -> tuple[int, int]:
        """Store everything handed over so far; returns (loaded, duplicates) since the last drain."""
        self.flush()
        self.queue.join()
        if self.error is not None:
            raise self.error
        counts = self.stored, self.duplicates
        self.stored = self.duplicates = 0
        return counts

    def _write_batches(self) -> None:
        while (batch := self.queue.get()) is not None:
            rows, pending = batch
            try:
                if self.error is None:
                    loaded = self._store(rows)
                    self.stored += loaded
                    self.duplicates += pending - loaded
            except BaseException as exc:  # handed to the parsing thread at its next drain
                self.error = exc
            finally:
                self.queue.task_done()
        self.queue.task_done()

    def _store(self, rows: dict[str, tuple[int, bytes]]) -> int:
        for attempt in range(MAX_WRITE_ATTEMPTS):
            try:
                cursor = self.driver.cursor()
                if attempt:
                    self._drop_stored(cursor, rows)
                self._copy(cursor, rows)
                self.driver.commit()
                return len(rows)
            except psycopg.errors.UniqueViolation:
                self.driver.rollback()
        raise RuntimeError(f"{len(rows)} events kept colliding with concurrent writers; load them again")

    @staticmethod
    def _drop_stored(cursor: psycopg.Cursor, rows: dict[str, tuple[int, bytes]]) -> None:
        created = [datetime.fromtimestamp(seconds, UTC) for seconds, _ in rows.values()]
        for (event_id,) in cursor.execute(ALREADY_STORED, (list(rows), created)).fetchall():
            del rows[event_id]

    def _copy(self, cursor: psycopg.Cursor, rows: dict[str, tuple[int, bytes]]) -> None:
        # In event id order, both keys (the events' and the log's) take the batch's ids in one sweep from left to
        # right, each page read once and hot for its neighbours, instead of at random places in indexes larger than
        # shared_buffers: a fifth less server CPU at 300,000 events (docs/benchmarks.md, "Replay ingest").
        ids = sorted(rows)
        events = b"".join([COPY_SIGNATURE, *(rows[event_id][1] for event_id in ids), COPY_TRAILER])
        with cursor.copy(f"copy raw.stripe_events ({', '.join(EVENT_COLUMNS)}, source) from stdin (format binary)"
                         ) as copy:
            copy.write(memoryview(events))
        # received_at defaults to now(), the transaction's start: the same instant in both tables.
        log_rows = b"".join([COPY_SIGNATURE, *(b"\x00\x01" + _copy_text(event_id) for event_id in ids), COPY_TRAILER])
        with cursor.copy("copy ops.webhook_event_log (event_id) from stdin (format binary)") as copy:
            copy.write(memoryview(log_rows))

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self.queue.put(None)
            self.writer.join()
            self.driver.rollback()  # nothing unflushed is kept: a re-run loads it, duplicates aside
        finally:
            self.conn.close()


def _record_rejections(engine: sa.Engine, source: str, rejections: list[Rejection]) -> None:
    if not rejections:
        return
    with engine.begin() as conn:
        conn.execute(
            sa.text("insert into ops.rejected_records (source, location, reason) values (:source, :location, :reason)"),
            [{"source": source, "location": r.location, "reason": r.reason} for r in rejections],
        )


def replay(
    engine: sa.Engine,
    paths: Iterable[Path | str],
    *,
    source: str = "replay",
    progress: bool = False,
    only_new_files: bool = False,
) -> LoadResult:
    """Load every event in `paths` (files or folders) into raw.stripe_events.

    Malformed events are skipped and reported (file and line) in the result and in ops.rejected_records;
    the rest still loads. With `only_new_files`, files already replayed with the same size and mtime are
    skipped, which is what a scheduled ingest of a landing folder wants.
    """
    files = expand_paths(paths)
    if only_new_files:
        files = _unseen(engine, files)
    total = LoadResult()
    bar = tqdm(total=sum(f.stat().st_size for f in files), unit="B", unit_scale=True, desc="replay",
               disable=not progress, mininterval=0.5)
    with bar, _Batches(engine, source) as stage:
        for path in files:
            result = _replay_file(stage, path, bar)
            total.add(result)
            if only_new_files:
                _mark_loaded(engine, path, result)
            bar.set_postfix(loaded=total.loaded, duplicate=total.duplicates, rejected=total.rejected, refresh=False)
    _record_rejections(engine, source, total.rejections)
    return total


def load_events(engine: sa.Engine, raw_events: Iterable[tuple[str, bytes]], *, source: str) -> LoadResult:
    """Store events given as (location, raw JSON) pairs, with the same checks and merge as a replay.

    Everything is committed when this returns, so a caller may then move a sync cursor past these events.
    """
    with _Batches(engine, source) as stage:
        result = _load(stage, raw_events, tqdm(disable=True))
    _record_rejections(engine, source, result.rejections)
    return result


def _replay_file(stage: _Batches, path: Path, bar: tqdm) -> LoadResult:
    result = _load(stage, read_file(path), bar)
    result.files = 1
    return result


def _load(stage: _Batches, raw_events: Iterable[tuple[str, bytes]], bar: tqdm) -> LoadResult:
    result = LoadResult()
    consumed = 0
    for location, raw in raw_events:
        consumed += len(raw) + 1
        try:
            stage.write(raw)
        except MalformedEvent as exc:
            result.rejected += 1
            result.rejections.append(Rejection(location, str(exc)))
            log.warning("rejected %s: %s", location, exc)
        if stage.pending >= FLUSH_EVERY_ROWS:
            stage.flush()
            bar.update(consumed)
            consumed = 0
    result.loaded, result.duplicates = stage.drain()
    bar.update(consumed)
    return result


def _file_key(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return str(path.resolve()), stat.st_size, stat.st_mtime_ns


def _unseen(engine: sa.Engine, files: list[Path]) -> list[Path]:
    with engine.connect() as conn:
        seen = {tuple(row) for row in conn.execute(sa.text("select path, size_bytes, mtime_ns from ops.loaded_files"))}
    return [f for f in files if _file_key(f) not in seen]


def _mark_loaded(engine: sa.Engine, path: Path, result: LoadResult) -> None:
    resolved, size, mtime_ns = _file_key(path)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "insert into ops.loaded_files (path, size_bytes, mtime_ns, loaded, duplicates, rejected)"
                " values (:path, :size, :mtime, :loaded, :duplicates, :rejected)"
                " on conflict (path) do update set size_bytes = excluded.size_bytes, mtime_ns = excluded.mtime_ns,"
                "  loaded = excluded.loaded, duplicates = excluded.duplicates, rejected = excluded.rejected,"
                "  loaded_at = now()"
            ),
            {"path": resolved, "size": size, "mtime": mtime_ns, "loaded": result.loaded,
             "duplicates": result.duplicates, "rejected": result.rejected},
        )
