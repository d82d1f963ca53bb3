"""Replay Stripe event JSON (single events, Stripe list pages, or JSON Lines) into raw.stripe_events.

The event id is the primary key, so loading the same events again changes nothing. Rows stream through
a temporary table with COPY and are merged with `ON CONFLICT DO NOTHING`: memory stays flat whatever
the input size, and duplicates (in the input or already stored) are counted rather than failing the load.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import sqlalchemy as sa
from tqdm import tqdm

log = logging.getLogger(__name__)

EVENT_FILE_SUFFIXES = (".json", ".jsonl", ".ndjson")
LINE_DELIMITED_SUFFIXES = (".jsonl", ".ndjson")
FLUSH_EVERY_ROWS = 50_000
STAGE_COLUMNS = ("event_id", "event_type", "api_version", "livemode", "created", "object_type", "object_id", "payload")


# New events enter the webhook event log as `received`, whatever their source, so processing sees them.
MERGE_STAGE = """
with stored as (
    insert into raw.stripe_events
        (event_id, event_type, api_version, livemode, created_at, object_type, object_id, payload, source)
    select distinct on (event_id)
        event_id, event_type, api_version, livemode, to_timestamp(created), object_type, object_id, payload::jsonb, %s
    from stripe_events_stage
    order by event_id
    on conflict (event_id) do nothing
    returning event_id, received_at
)
insert into ops.webhook_event_log (event_id, received_at) select event_id, received_at from stored
"""


class InputNotFound(FileNotFoundError):
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


def event_row(event: object) -> tuple:
    """The columns we index an event by, checked to be what Stripe sends; raises MalformedEvent."""
    if not isinstance(event, dict):
        raise MalformedEvent("not a JSON object")
    if event.get("object") != "event":
        raise MalformedEvent(f"object is {event.get('object')!r}, not 'event'")
    event_id, event_type, created = event.get("id"), event.get("type"), event.get("created")
    if not isinstance(event_id, str) or not event_id:
        raise MalformedEvent("missing event id")
    if not isinstance(event_type, str) or not event_type:
        raise MalformedEvent(f"{event_id}: missing type")
    if not isinstance(created, int) or isinstance(created, bool):
        raise MalformedEvent(f"{event_id}: created is not a unix timestamp")
    livemode = event.get("livemode")
    if not isinstance(livemode, bool):
        raise MalformedEvent(f"{event_id}: livemode is not a boolean")
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(obj, dict):
        raise MalformedEvent(f"{event_id}: data.object is missing")
    return (event_id, event_type, event.get("api_version"), livemode, created, obj.get("object"), obj.get("id"))


def parse_event(raw: bytes) -> tuple:
    """One stage row from the raw JSON of one event; the raw text is kept as the payload."""
    # Postgres jsonb cannot hold the NUL character; catching it here keeps one bad event from failing a batch.
    if b"\\u0000" in raw:
        raise MalformedEvent("contains a \\u0000 escape, which Postgres cannot store")
    try:
        event = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MalformedEvent(f"invalid JSON: {exc}") from None
    return (*event_row(event), raw.decode())


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


class _Stage:
    """A temporary COPY target merged into raw.stripe_events in batches, one transaction each."""

    def __init__(self, engine: sa.Engine, source: str):
        self.engine = engine
        self.source = source
        self.pending = 0

    def __enter__(self) -> _Stage:
        self.conn = self.engine.raw_connection()
        self.driver = self.conn.driver_connection
        self.driver.execute(
            "create temporary table if not exists stripe_events_stage ("
            " event_id text, event_type text, api_version text, livemode boolean, created bigint,"
            " object_type text, object_id text, payload text) on commit delete rows"
        )
        self.driver.commit()
        self.cursor = self.driver.cursor()
        self.copy_cm = None
        return self

    def write(self, row: tuple) -> None:
        if self.copy_cm is None:
            self.copy_cm = self.cursor.copy(f"copy stripe_events_stage ({', '.join(STAGE_COLUMNS)}) from stdin")
            self.copy = self.copy_cm.__enter__()
        self.copy.write_row(row)
        self.pending += 1

    def _end_copy(self, exc: BaseException | None = None) -> None:
        if self.copy_cm is not None:
            copy_cm, self.copy_cm = self.copy_cm, None
            copy_cm.__exit__(type(exc) if exc else None, exc, None)

    def flush(self) -> tuple[int, int]:
        """Merge what is staged; returns (loaded, duplicates)."""
        if not self.pending:
            return 0, 0
        self._end_copy()
        staged = self.pending
        loaded = self.cursor.execute(MERGE_STAGE, (self.source,)).rowcount
        self.driver.commit()  # also empties the stage (on commit delete rows)
        self.pending = 0
        return loaded, staged - loaded

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self._end_copy(exc)
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
    with bar, _Stage(engine, source) as stage:
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
    with _Stage(engine, source) as stage:
        result = _load(stage, raw_events, tqdm(disable=True))
    _record_rejections(engine, source, result.rejections)
    return result


def _replay_file(stage: _Stage, path: Path, bar: tqdm) -> LoadResult:
    result = _load(stage, read_file(path), bar)
    result.files = 1
    return result


def _load(stage: _Stage, raw_events: Iterable[tuple[str, bytes]], bar: tqdm) -> LoadResult:
    result = LoadResult()
    consumed = 0
    for location, raw in raw_events:
        consumed += len(raw) + 1
        try:
            stage.write(parse_event(raw))
        except MalformedEvent as exc:
            result.rejected += 1
            result.rejections.append(Rejection(location, str(exc)))
            log.warning("rejected %s: %s", location, exc)
        if stage.pending >= FLUSH_EVERY_ROWS:
            _count(result, stage.flush())
            bar.update(consumed)
            consumed = 0
    _count(result, stage.flush())
    bar.update(consumed)
    return result


def _count(result: LoadResult, merged: tuple[int, int]) -> None:
    result.loaded += merged[0]
    result.duplicates += merged[1]


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
