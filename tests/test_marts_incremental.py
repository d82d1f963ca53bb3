"""Incremental models (stg_stripe__events, the event-history base models, the latest-state staging models,
int_stripe__charge_refund_increments, fct_charges, fct_refunds, fraud_signals, stg_ops__webhook_event_log,
webhook_health) give the same rows as a full refresh after late and out-of-order events: build on part of the
events, made to look as if they arrived over the generated days (so most are outside the lookback), load and process
the rest (old `created`, new arrival), build incrementally, then compare with a full refresh. The webhook models also
follow a log row whose status alone changes, long after its event arrived."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa

from conftest import embedded_warehouse

DBT_DIR = Path(__file__).resolve().parents[1] / "dbt"
DBT = Path(sys.executable).with_name("dbt")
INCREMENTAL_MODELS = ("stg_stripe__events", "base_stripe__charge_events", "base_stripe__dispute_events",
                      "stg_stripe__charges", "stg_stripe__payment_intents", "stg_stripe__refunds", "stg_stripe__disputes",
                      "int_stripe__charge_refund_increments", "fct_charges", "fct_refunds", "fraud_signals",
                      "stg_ops__webhook_event_log", "webhook_health")
CHANGED_BY_LATE_EVENTS = ("stg_stripe__events", "base_stripe__charge_events", "stg_stripe__charges",
                          "int_stripe__charge_refund_increments", "fct_charges", "fct_refunds", "fraud_signals",
                          "stg_ops__webhook_event_log", "webhook_health")
SELECT = ("--select", "+fct_charges", "+fct_refunds", "+base_stripe__dispute_events", "+stg_stripe__payment_intents",
          "+stg_stripe__disputes", "+fraud_signals", "+webhook_health")
WEBHOOK_MODELS = ("stg_ops__webhook_event_log", "webhook_health")
HELD_BACK_EVERY = 4
"""Every 4th event arrives only after the first build: refunds of old charges, states older than the
newest one already stored, and charges never seen before."""


FADING_OUTLIER = "cus_fading_outlier"
"""A customer whose only fraud signal stops firing after the late events: its rows must go."""


def succeeded_charge(charge_id: str, amount: int, day: int) -> tuple[str, bytes]:
    """A charge.succeeded event of a live USD charge of FADING_OUTLIER, created on June `day`, 2026."""
    from demo.stripe_objects import API_VERSION

    created = int(datetime(2026, 6, day, 10, tzinfo=UTC).timestamp())
    charge = {"id": charge_id, "object": "charge", "amount": amount, "amount_captured": amount, "amount_refunded": 0,
              "captured": True, "created": created, "currency": "usd", "customer": FADING_OUTLIER,
              "disputed": False, "livemode": True, "metadata": {}, "paid": True, "refunded": False,
              "outcome": {"type": "authorized", "risk_level": "normal"}, "status": "succeeded"}
    event = {"id": f"evt_{charge_id}", "object": "event", "api_version": API_VERSION, "created": created,
             "data": {"object": charge}, "livemode": True, "type": "charge.succeeded"}
    return event["id"], orjson.dumps(event)


# 5000 is more than 3x the median of the earlier 1000 (amount_outlier); the late 2500, created between them,
# raises that median to 1750, and the customer then fires no rule at all.
FADING_OUTLIER_EARLY = [succeeded_charge("ch_fading_1", 1000, 20), succeeded_charge("ch_fading_3", 5000, 24)]
FADING_OUTLIER_LATE = [succeeded_charge("ch_fading_2", 2500, 22)]


def dbt(settings, target_path: Path, *args: str) -> None:
    from payops.db import dbt_env

    env = {**os.environ, **dbt_env(settings)}
    result = subprocess.run(
        [str(DBT), *args, "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR),
         "--target-path", str(target_path), "--log-path", str(target_path / "logs")],
        env=env, capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:]


def snapshot(engine: sa.Engine, models: tuple[str, ...] = INCREMENTAL_MODELS) -> dict[str, set[str]]:
    """Every row of every incremental model, as Postgres writes the row out (jsonb columns included)."""
    with engine.connect() as conn:
        return {model: set(conn.execute(sa.text(f"select cast(rows as text) from analytics.{model} as rows")).scalars())
                for model in models}


def as_if_received_when_created(engine: sa.Engine) -> None:
    """Make every stored event look as if it had arrived when it was created, the newest a day ago (and its
    object's state processed then, its log row written then): the early events' arrivals then span the generated
    days, so the incremental build's lookback (15 minutes before the newest arrival) re-reads only the last few of
    them."""
    from ingest.processing import STATE_TABLES

    offset = "(select now() - interval '1 day' - max(created_at) from raw.stripe_events)"
    with engine.begin() as conn:
        for table in STATE_TABLES:
            conn.execute(sa.text(f"update raw.{table.table} set updated_at = last_event_created_at + {offset}"))
        conn.execute(sa.text(f"update raw.stripe_events set received_at = created_at + {offset}"))
        # Every timestamp of a log row moves with its arrival. The trigger would stamp updated_at with the clock,
        # making every row look just written and the next build re-read the whole log: history is rewritten here.
        conn.execute(sa.text("alter table ops.webhook_event_log disable trigger webhook_event_log_updated_at"))
        conn.execute(sa.text("""
            update ops.webhook_event_log as log
            set received_at = events.received_at,
                processing_started_at = log.processing_started_at + (events.received_at - log.received_at),
                processed_at = log.processed_at + (events.received_at - log.received_at),
                updated_at = log.updated_at + (events.received_at - log.received_at)
            from raw.stripe_events as events
            where events.event_id = log.event_id
        """))
        conn.execute(sa.text("alter table ops.webhook_event_log enable trigger webhook_event_log_updated_at"))


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory):
    with embedded_warehouse(tmp_path_factory.mktemp("incremental"), PAYOPS_TIMEZONE="America/Sao_Paulo") as settings:
        yield settings


def test_an_incremental_build_after_late_events_equals_a_full_refresh(warehouse, tmp_path):
    from demo.generate import generate_demo_data
    from ingest.processing import process_pending
    from ingest.stripe_events import load_events
    from payops.db import ready_engine

    engine = ready_engine(warehouse)
    demo = generate_demo_data(warehouse, days=12, students=30, seed=5, end=date(2026, 6, 30), progress=False,
                              out_dir=tmp_path / "events", write_app=False)
    events: dict[str, bytes] = {}
    for path in sorted(demo.out_dir.rglob("*.jsonl")):
        for line in path.read_bytes().splitlines():
            if line:
                events.setdefault(orjson.loads(line)["id"], line)
    ordered = sorted(events.items(), key=lambda item: orjson.loads(item[1])["created"])
    early = [item for number, item in enumerate(ordered) if number % HELD_BACK_EVERY]
    late = [item for number, item in enumerate(ordered) if not number % HELD_BACK_EVERY]
    early += FADING_OUTLIER_EARLY
    late += FADING_OUTLIER_LATE

    load_events(engine, early, source="replay")
    process_pending(engine)
    as_if_received_when_created(engine)
    # Models only: the seeds they read, no data or unit tests (tests/test_dbt_project.py runs those).
    dbt(warehouse, tmp_path / "target", "build", *SELECT, "--resource-type", "model", "seed")
    before = snapshot(engine)

    load_events(engine, late, source="replay")
    process_pending(engine)
    dbt(warehouse, tmp_path / "target", "run", *SELECT)
    incremental = snapshot(engine)

    dbt(warehouse, tmp_path / "target", "run", *SELECT, "--full-refresh")
    full = snapshot(engine)

    def fading_outlier_rows(rows: dict[str, set[str]]) -> set[str]:
        return {row for row in rows["fraud_signals"] if FADING_OUTLIER in row}

    assert len(fading_outlier_rows(before)) == 2, "amount_outlier should fire on ch_fading_3 and its customer"
    assert fading_outlier_rows(full) == set(), f"{FADING_OUTLIER} should fire no rule after the late events"
    for model in CHANGED_BY_LATE_EVENTS:
        assert incremental[model] != before[model], f"the late events should change {model}"
    for model in INCREMENTAL_MODELS:
        assert incremental[model] == full[model], model


def processed_per_hour(engine: sa.Engine) -> dict:
    with engine.connect() as conn:
        return dict(conn.execute(sa.text("select hour, processed from analytics.webhook_health")).all())


def test_processing_an_old_event_alone_reaches_the_incremental_webhook_models(tmp_path):
    """No new event, only status changes: the oldest events, stored but not yet processed at the first build,
    are processed. They arrived (as_if_received_when_created) twelve days before the newest event, outside the
    lookback, so only the log's updated_at can bring their rows and hours into the incremental build."""
    from demo.generate import generate_demo_data
    from ingest.processing import process_pending
    from ingest.stripe_events import load_events
    from payops.db import ready_engine

    with embedded_warehouse(tmp_path / "warehouse") as settings:
        engine = ready_engine(settings)
        demo = generate_demo_data(settings, days=12, students=10, seed=11, end=date(2026, 6, 30), progress=False,
                                  out_dir=tmp_path / "events", write_app=False)
        events = {}
        for path in sorted(demo.out_dir.rglob("*.jsonl")):
            for line in path.read_bytes().splitlines():
                if line:
                    events.setdefault(orjson.loads(line)["id"], line)
        ordered = sorted(events.items(), key=lambda item: orjson.loads(item[1])["created"])
        oldest, rest = ordered[:5], ordered[5:]

        load_events(engine, rest, source="replay")
        process_pending(engine)
        load_events(engine, oldest, source="replay")  # stored, still `received`
        as_if_received_when_created(engine)
        target = tmp_path / "target"
        dbt(settings, target, "run", "--select", "+webhook_health")
        before = snapshot(engine, WEBHOOK_MODELS)
        processed_before = processed_per_hour(engine)

        assert process_pending(engine).processed == len(oldest)
        dbt(settings, target, "run", "--select", "+webhook_health")
        incremental = snapshot(engine, WEBHOOK_MODELS)
        processed_after = processed_per_hour(engine)

        dbt(settings, target, "run", "--select", "+webhook_health", "--full-refresh")
        full = snapshot(engine, WEBHOOK_MODELS)

    assert sum(processed_after.values()) == sum(processed_before.values()) + len(oldest)
    moved = [hour for hour in processed_after if processed_after[hour] != processed_before.get(hour)]
    assert moved and all(hour in processed_before for hour in moved), "only the old events' hours should move"
    for model in WEBHOOK_MODELS:
        assert incremental[model] != before[model], f"processing should change {model}"
        assert incremental[model] == full[model], model
