"""Replay under a concurrent writer: an event stored by someone else mid-batch is neither lost nor doubled."""

from __future__ import annotations

import json
import threading
import time

import sqlalchemy as sa

from ingest.stripe_events import load_events, replay
from payops.db import ready_engine


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
