"""Replay under a concurrent writer: an event stored by someone else mid-batch is neither lost nor doubled."""

from __future__ import annotations

import json
import threading
import time

import sqlalchemy as sa
from conftest import embedded_warehouse

from ingest.stripe_events import load_events, replay
from payops.db import engine as warehouse_engine
from payops.db import ready_engine, stop_embedded


def stripe_event(event_id: str) -> dict:
    return {"id": event_id, "object": "event", "api_version": "2026-07-29.dahlia", "created": 1_780_000_000,
            "livemode": False, "pending_webhooks": 0, "request": {"id": None, "idempotency_key": None},
            "type": "customer.created", "data": {"object": {"id": f"cus_{event_id}", "object": "customer"}}}


def test_an_event_committed_by_another_writer_during_the_batch_counts_as_a_duplicate(module_warehouse, tmp_path):
    engine = ready_engine(module_warehouse)
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps(stripe_event(i)) + "\n" for i in ("evt_contested", "evt_ours")))

    # Another writer (the webhook receiver, say) holds the same event uncommitted: the replay cannot see it
    # when it checks, and its COPY waits on the primary key until that writer commits.
    with engine.connect() as other:
        writer = other.begin()
        other.execute(sa.text(
            "insert into raw.stripe_events (event_id, event_type, livemode, created_at, payload, source)"
            " values ('evt_contested', 'customer.created', false, to_timestamp(1780000000), '{}', 'webhook')"))
        outcome: dict = {}
        loader = threading.Thread(target=lambda: outcome.setdefault("result", replay(engine, [events])))
        loader.start()
        time.sleep(1.0)
        writer.commit()
    loader.join(timeout=30)

    result = outcome["result"]
    assert (result.loaded, result.duplicates, result.rejected) == (1, 1, 0)
    with engine.connect() as conn:
        stored = dict(conn.execute(sa.text(
            "select event_id, source from raw.stripe_events where event_id in ('evt_contested', 'evt_ours')")).all())
        queued = set(conn.execute(sa.text(
            "select event_id from ops.webhook_event_log where event_id in ('evt_contested', 'evt_ours')")).scalars())
    assert stored == {"evt_contested": "webhook", "evt_ours": "replay"}
    assert queued == {"evt_ours"}, "the other writer queues its own event; the replay queues only what it stored"


def test_load_events_keeps_the_first_of_two_deliveries_in_one_batch(module_warehouse):
    engine = ready_engine(module_warehouse)
    first = json.dumps({**stripe_event("evt_twice"), "livemode": True}).encode()
    second = json.dumps(stripe_event("evt_twice")).encode()
    result = load_events(engine, [("a:1", first), ("a:2", second)], source="replay")
    assert (result.loaded, result.duplicates) == (1, 1)
    with engine.connect() as conn:
        assert conn.execute(sa.text("select livemode from raw.stripe_events where event_id = 'evt_twice'")).scalar()


def test_out_of_range_and_oversized_events_are_rejected_with_file_and_line_and_the_rest_loads(
        module_warehouse, tmp_path):
    engine = ready_engine(module_warehouse)
    lines = [
        stripe_event("evt_line_1"),
        {**stripe_event("evt_line_2"), "created": 253402300800},
        {**stripe_event("evt_line_3"), "description": "x" * (1 << 20)},
        {**stripe_event("evt_line_4"), "created": -1},
        stripe_event("evt_line_5"),
    ]
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "export.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))

    result = replay(engine, [landing], only_new_files=True)

    assert (result.loaded, result.rejected) == (2, 3)
    assert [r.location.rsplit(":", 1)[1] for r in result.rejections] == ["2", "3", "4"]
    assert "created is 253402300800" in result.rejections[0].reason
    assert "over the 1,048,576" in result.rejections[1].reason
    with engine.connect() as conn:
        recorded = conn.execute(sa.text(
            "select loaded, rejected from ops.loaded_files where path like :path"), {"path": f"{landing}%"}).all()
    assert [tuple(row) for row in recorded] == [(2, 3)]
    assert replay(engine, [landing], only_new_files=True).files == 0, "recorded as loaded: no later refresh fails"


def test_redeliveries_near_and_far_in_a_file_and_events_stored_before_are_each_stored_once(
        module_warehouse, tmp_path, monkeypatch):
    # Batches of 2 and a memory of 2 recent ids make each path short: a redelivery in its own batch, one batch
    # later (remembered), and beyond the memory or from an earlier load (the COPY fails on the key and the batch
    # is written again without the stored events).
    monkeypatch.setattr("ingest.stripe_events.FLUSH_EVERY_ROWS", 2)
    monkeypatch.setattr("ingest.stripe_events.RECENT_IDS", 2)
    engine = ready_engine(module_warehouse)
    earlier = tmp_path / "earlier.jsonl"
    earlier.write_text(json.dumps(stripe_event("evt_far_stored")) + "\n")
    assert replay(engine, [earlier]).loaded == 1
    deliveries = ["evt_far_a", "evt_far_a", "evt_far_b", "evt_far_a", "evt_far_c", "evt_far_d", "evt_far_e",
                  "evt_far_f", "evt_far_b", "evt_far_stored", "evt_far_g"]
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps(stripe_event(event_id)) + "\n" for event_id in deliveries))

    result = replay(engine, [events])

    new = set(deliveries) - {"evt_far_stored"}
    assert (result.loaded, result.duplicates) == (len(new), len(deliveries) - len(new))
    with engine.connect() as conn:
        stored = conn.execute(sa.text(
            "select event_id, count(*) from raw.stripe_events where event_id like 'evt_far_%' group by event_id"
        )).all()
        queued = conn.execute(sa.text(
            "select count(*) from ops.webhook_event_log where event_id like 'evt_far_%'")).scalar()
    assert dict(stored) == dict.fromkeys(new | {"evt_far_stored"}, 1)
    assert queued == len(new) + 1


def server_setting(engine: sa.Engine, name: str) -> str:
    with engine.connect() as conn:
        return conn.execute(sa.text("select current_setting(:name)"), {"name": name}).scalar()


def test_the_embedded_postgres_checkpoints_rarely_enough_for_bulk_loads_even_when_it_was_made_before(tmp_path):
    with embedded_warehouse(tmp_path / "warehouse") as settings:
        engine = warehouse_engine(settings)
        assert (server_setting(engine, "max_wal_size"), server_setting(engine, "checkpoint_timeout")) == \
            ("4GB", "15min")
        # A warehouse made before these settings: initdb's defaults, stopped, then started again.
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.execute(sa.text("alter system reset all"))
        engine.dispose()
        stop_embedded(settings)
        engine = warehouse_engine(settings)
        assert (server_setting(engine, "max_wal_size"), server_setting(engine, "checkpoint_timeout")) == \
            ("4GB", "15min")
        engine.dispose()
