"""raw.stripe_events partitioned by month: the in-place migration of a warehouse holding events, deduplication
across partitions, partitions made ahead (and events that came before theirs), and `payops archive`."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime

import orjson
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from click.testing import CliRunner

from ingest.partitions import ArchiveRefused, archive_before, ensure_partitions, list_partitions
from ingest.processing import process_pending
from ingest.stripe_events import load_events, parse_event
from ingest.webhooks import STORE_EVENTS
from payops import db
from payops.settings import Settings
from payops_cli.main import main

PARTITIONING_REVISION = "0010"
# 40 events a month, January to April 2026, created at different days and seconds of each month.
MONTHS = (date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1), date(2026, 4, 1))


def stripe_event(event_id: str, created: datetime) -> dict:
    stamp = int(created.timestamp())
    charge = {"id": f"ch_{event_id}", "object": "charge", "amount": 500, "currency": "usd", "livemode": False,
              "status": "succeeded", "captured": True, "created": stamp}
    return {"id": event_id, "object": "event", "api_version": "2026-07-29.dahlia", "created": stamp,
            "livemode": False, "type": "charge.succeeded", "data": {"object": charge}}


EVENTS = {
    f"evt_{month:%Y%m}_{n:02d}": stripe_event(f"evt_{month:%Y%m}_{n:02d}",
                                              datetime(month.year, month.month, 1 + n % 28, n % 24, n, tzinfo=UTC))
    for month in MONTHS for n in range(40)
}
# The last second of January and the first of February, so the bound between two partitions is exercised.
EVENTS["evt_jan_last"] = stripe_event("evt_jan_last", datetime(2026, 1, 31, 23, 59, 59, tzinfo=UTC))
EVENTS["evt_feb_first"] = stripe_event("evt_feb_first", datetime(2026, 2, 1, 0, 0, 0, tzinfo=UTC))


def month_of(event: dict) -> date:
    return datetime.fromtimestamp(event["created"], UTC).date().replace(day=1)


def raw_events(events: dict[str, dict]) -> list[tuple[str, bytes]]:
    return [(event_id, orjson.dumps(event)) for event_id, event in events.items()]


def alembic_config(conn: sa.Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(db.MIGRATIONS_DIR))
    config.attributes["connection"] = conn
    return config


@pytest.fixture(scope="module")
def warehouse(module_warehouse: Settings) -> sa.Engine:
    """A warehouse built up to the revision before partitioning, holding every event (and its log row), and
    then migrated in place; each test below reads it as the migration left it."""
    engine = db.engine(module_warehouse)
    before = ScriptDirectory.from_config(alembic_config(None)).get_revision(PARTITIONING_REVISION).down_revision
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), before)
    assert load_events(engine, raw_events(EVENTS), source="replay").loaded == len(EVENTS)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "head")
    return engine


def scalar(engine: sa.Engine, sql: str, **params):
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar()


def test_the_migration_puts_every_event_in_its_month_and_keeps_payloads_log_rows_and_views(warehouse: sa.Engine):
    assert scalar(warehouse, "select relkind from pg_class where oid = 'raw.stripe_events'::regclass") == "p"
    with warehouse.connect() as conn:
        by_partition = dict(conn.execute(sa.text(
            "select tableoid::regclass::text, count(*) from raw.stripe_events group by 1")).all())
        payloads = dict(conn.execute(sa.text("select event_id, payload from raw.stripe_events")).all())
    expected: dict[str, int] = {}
    for event in EVENTS.values():
        name = f"raw.stripe_events_{month_of(event):%Y_%m}"
        expected[name] = expected.get(name, 0) + 1
    assert by_partition == expected
    assert payloads == EVENTS
    # The partitions run from the first event's month to three months past today's.
    partitions = [p.month for p in list_partitions(warehouse)]
    assert partitions[0] == MONTHS[0] and partitions[-1] >= datetime.now(UTC).date().replace(day=1)
    # The log rows survive, and the views over the events (dropped and made again) still join them.
    assert scalar(warehouse, "select count(*) from ops.webhook_events where status = 'received'") == len(EVENTS)


def test_a_redelivery_is_a_duplicate_whichever_loader_and_partition(warehouse: sa.Engine):
    again = load_events(warehouse, raw_events(EVENTS), source="events_api")
    assert (again.loaded, again.duplicates) == (0, len(EVENTS))
    rows = [parse_event(orjson.dumps(EVENTS[event_id])) for event_id in ("evt_jan_last", "evt_feb_first")]
    columns = [list(column) for column in zip(*((*row, datetime.now(UTC), "{}") for row in rows), strict=True)]
    with warehouse.begin() as conn:
        assert conn.exec_driver_sql(STORE_EVENTS, tuple(columns)).all() == []
    assert scalar(warehouse, "select count(*) from raw.stripe_events") == len(EVENTS)


def test_an_event_for_a_month_without_a_partition_waits_in_the_default_one_and_moves_in_when_it_is_made(
        warehouse: sa.Engine):
    future = stripe_event("evt_future", datetime(2031, 5, 17, 12, tzinfo=UTC))
    assert load_events(warehouse, raw_events({"evt_future": future}), source="replay").loaded == 1
    where = "select tableoid::regclass::text from raw.stripe_events where event_id = 'evt_future'"
    assert scalar(warehouse, where) == "raw.stripe_events_default"

    assert ensure_partitions(warehouse, months_ahead=1, today=date(2031, 5, 3)) == 2
    assert scalar(warehouse, where) == "raw.stripe_events_2031_05"
    assert scalar(warehouse, "select count(*) from raw.stripe_events_default") == 0
    assert ensure_partitions(warehouse, months_ahead=1, today=date(2031, 5, 3)) == 0


def test_archive_refuses_unprocessed_events_then_moves_old_months_to_parquet(warehouse: sa.Engine, tmp_path):
    with pytest.raises(ArchiveRefused, match=r"2026-01 still has events not processed \(41 received\)"):
        archive_before(warehouse, date(2026, 3, 1), tmp_path)
    assert scalar(warehouse, "select count(*) from raw.stripe_events") == len(EVENTS) + 1  # nothing detached

    process_pending(warehouse)
    result = CliRunner().invoke(main, ["archive", "--before", "2026-03", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output

    old = {event_id for event_id, event in EVENTS.items() if month_of(event) < date(2026, 3, 1)}
    for month in (date(2026, 1, 1), date(2026, 2, 1)):
        events_file = tmp_path / "stripe_events" / f"{month:%Y-%m}.parquet"
        archived = pq.read_table(events_file).to_pylist()
        in_month = {event_id for event_id in old if month_of(EVENTS[event_id]) == month}
        assert [row["event_id"] for row in archived] == sorted(in_month)
        assert all(orjson.loads(row["payload"]) == EVENTS[row["event_id"]] for row in archived)
        log_rows = pq.read_table(tmp_path / "webhook_event_log" / f"{month:%Y-%m}.parquet").to_pylist()
        assert {row["event_id"] for row in log_rows} == in_month
        assert {row["status"] for row in log_rows} == {"processed"}
        recorded = scalar(warehouse, "select events_sha256 from ops.archived_stripe_event_months where month = :m",
                          m=month)
        assert recorded == hashlib.sha256(events_file.read_bytes()).hexdigest()

    with warehouse.connect() as conn:
        kept = set(conn.execute(sa.text("select event_id from raw.stripe_events")).scalars())
        logged = set(conn.execute(sa.text("select event_id from ops.webhook_event_log")).scalars())
    assert kept == (set(EVENTS) - old) | {"evt_future"}
    assert logged == kept
    assert [p.month for p in list_partitions(warehouse)][0] == date(2026, 3, 1)
    # What the archived events made stays: processing wrote their charges' state before the archive.
    assert scalar(warehouse, "select count(*) from raw.stripe_charges") == len(EVENTS) + 1


def test_archive_names_a_bad_month_and_a_month_not_over(warehouse: sa.Engine, tmp_path):
    result = CliRunner().invoke(main, ["archive", "--before", "2026/01", "--out", str(tmp_path)])
    assert result.exit_code == 1 and "write it as YYYY-MM" in result.output
    with pytest.raises(ArchiveRefused, match="only months that are over"):
        archive_before(warehouse, date(2026, 5, 1), tmp_path, today=date(2026, 4, 20))


# Last in the file: it empties the module's warehouse.
def test_truncating_the_events_empties_the_log_as_the_foreign_key_once_did(warehouse: sa.Engine):
    with warehouse.begin() as conn:
        conn.execute(sa.text("truncate raw.stripe_events"))
    assert scalar(warehouse, "select count(*) from ops.webhook_event_log") == 0
    assert load_events(warehouse, raw_events(EVENTS), source="replay").loaded == len(EVENTS)
