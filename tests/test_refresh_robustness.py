"""A Stripe-only warehouse (no app tables) with poison events among good ones, refreshed by two `payops refresh`
started together (and a third with --no-wait while they run): all end cleanly, the marts equal those of a single
refresh of the same landing files in another warehouse, row by row, the good events reach the marts, and the bad
ones are listed with their error."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import embedded_warehouse
from test_processing import expected_latest_event_ids

from ingest.refresh_lock import refresh_started_at
from payops.db import ready_engine

PAYOPS = Path(sys.executable).parent / "payops"
T0 = 1_781_000_000


def charge_event(event_id: str, charge_id: str, **fields) -> dict:
    charge = {"id": charge_id, "object": "charge", "amount": 5000, "amount_captured": 5000, "amount_refunded": 0,
              "currency": "usd", "status": "succeeded", "captured": True, "disputed": False, "livemode": False,
              "created": T0, **fields}
    return {"id": event_id, "object": "event", "api_version": "2026-07-29.dahlia", "created": T0,
            "livemode": False, "type": "charge.succeeded", "data": {"object": charge}}


POISON = {
    "evt_poison_abc": ("charge_abc", {"amount": "abc"}, "charge charge_abc amount is \"abc\", want an integer"),
    "evt_poison_missing": ("charge_missing", {"amount": None}, "charge charge_missing amount is missing"),
    "evt_poison_soon": ("charge_soon", {"created": "soon"}, "charge charge_soon created is \"soon\""),
    "evt_poison_xyz": ("charge_xyz", {"currency": "xyz"}, "charge charge_xyz currency is \"xyz\""),
}


def refresh_process(env: dict[str, str], *options: str) -> subprocess.Popen:
    env = {**env, "PATH": f"{PAYOPS.parent}{os.pathsep}{env['PATH']}"}
    return subprocess.Popen([str(PAYOPS), "refresh", *options], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def mart_rows(engine: sa.Engine) -> dict[str, tuple[list[str], list[tuple]]]:
    """table -> (columns, rows sorted) of every relation dbt builds (schema analytics: staging, intermediate and
    marts), without the columns that say when this warehouse did the work (WHEN_COLUMNS)."""
    marts: dict[str, tuple[list[str], list[tuple]]] = {}
    with engine.connect() as conn:
        columns = conn.execute(sa.text("""
            select table_name, column_name from information_schema.columns
            where table_schema = 'analytics' order by table_name, ordinal_position
        """)).all()
        by_table: dict[str, list[str]] = defaultdict(list)
        for table, column in columns:
            if column not in WHEN_COLUMNS:
                by_table[table].append(column)
        for table, kept in by_table.items():
            rows = conn.execute(sa.text(f"select {', '.join(kept)} from analytics.{table}")).all()
            marts[table] = (kept, sorted((tuple(row) for row in rows), key=repr))
    return marts


WHEN_COLUMNS = {
    # when this warehouse received, processed, retried or first saw an event or a row
    "received_at", "newest_event_received_at", "processing_started_at", "processed_at", "processing_ms",
    "last_attempt_at", "first_seen_at", "app_loaded_at", "loaded_at",
    # when processing or dbt last changed a row, or built or checked a model
    "updated_at", "state_updated_at", "charge_updated_at", "source_updated_at", "sources_updated_at",
    "log_updated_at", "built_at", "checked_at", "as_of",
    # webhook_health's hour of receipt and its delays, from the times above
    "hour", "lag_p50_seconds", "lag_p95_seconds", "webhook_lag_p50_seconds", "webhook_lag_p95_seconds",
    "processing_ms_p50", "processing_ms_p95",
}
"""Columns recording when a warehouse did the work, not what the events say: two warehouses built from the same
files a few minutes apart differ there however right they are."""


def differing_columns(twice: tuple[list[str], list[tuple]], once: tuple[list[str], list[tuple]]) -> list[str]:
    columns, rows_twice = twice
    rows_once = once[1]
    return [column for number, column in enumerate(columns)
            if sorted((row[number] for row in rows_twice), key=repr) != sorted((row[number] for row in rows_once),
                                                                                key=repr)]


@pytest.fixture(scope="module")
def refreshed(tmp_path_factory):
    from demo.generate import generate_demo_data

    with embedded_warehouse(tmp_path_factory.mktemp("stripe-only")) as settings:
        demo = generate_demo_data(settings, days=5, students=15, seed=3, end=date(2026, 6, 30), progress=False,
                                  write_app=False)
        landing = settings.stripe_landing_dir
        poison = [charge_event(event_id, charge_id, **fields) for event_id, (charge_id, fields, _) in POISON.items()]
        good = [charge_event("evt_good_sar", "ch_good_sar", currency="sar", amount=12345, amount_captured=12345)]
        (landing / "poison.jsonl").write_text("".join(json.dumps(e) + "\n" for e in [*poison, *good]))
        # The events and the balance transactions listed ahead of time (stripe_balance/), as the refreshes find them.
        the_same_files = tmp_path_factory.mktemp("landing-copy") / "landing"
        shutil.copytree(landing.parent, the_same_files)
        engine = ready_engine(settings)
        together = [refresh_process(dict(os.environ)) for _ in range(2)]
        deadline = time.monotonic() + 120
        while refresh_started_at(engine) is None:
            assert all(p.poll() is None for p in together) and time.monotonic() < deadline, "no refresh took the lock"
            time.sleep(0.2)
        late = refresh_process(dict(os.environ), "--no-wait")
        outputs = [process.communicate(timeout=900)[0] for process in [*together, late]]
        codes = [process.returncode for process in [*together, late]]
        twice = mart_rows(engine)
        with embedded_warehouse(tmp_path_factory.mktemp("single-refresh")) as single:
            shutil.copytree(the_same_files, single.stripe_landing_dir.parent, dirs_exist_ok=True)
            alone = refresh_process(dict(os.environ))
            single_output = alone.communicate(timeout=900)[0]
            assert alone.returncode == 0, single_output
            once = mart_rows(ready_engine(single))
        yield settings, engine, demo, codes, outputs, twice, once


def test_refreshes_started_together_end_cleanly_and_one_started_during_them_says_since_when(refreshed):
    _, _, _, codes, outputs, _, _ = refreshed
    assert codes == [0, 0, 0], outputs
    waited = [output for output in outputs[:2] if "waiting for it to end" in output]
    assert len(waited) == 1, outputs[:2]
    assert all(re.search(r"^materialized \d+ assets in run ", output, re.M) for output in outputs[:2]), outputs
    assert re.fullmatch(r"a refresh has been running since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \S+; "
                        r"not starting another\n", outputs[2]), outputs[2]


def test_the_marts_after_two_refreshes_equal_those_of_a_single_refresh_row_by_row(refreshed):
    *_, twice, once = refreshed
    assert {"payments_daily", "fct_charges", "fct_payment_intents", "held_back_events"} <= set(once)
    assert sum(len(rows) for _, rows in once.values()) > 100, "marts with rows to compare"
    assert twice.keys() == once.keys()
    differing = {table: (len(twice[table][1]), len(once[table][1]), differing_columns(twice[table], once[table]))
                 for table in once if twice[table] != once[table]}
    assert not differing, f"(rows after two refreshes, after one, columns that differ) of each table: {differing}"


def test_poison_events_are_listed_with_their_error_and_the_good_ones_reach_the_marts(refreshed):
    engine = refreshed[1]
    with engine.connect() as conn:
        held = dict(conn.execute(sa.text("select event_id, error from analytics.held_back_events")).all())
        sar = conn.execute(sa.text(
            "select currency, amount_minor from analytics.fct_charges where charge_id = 'ch_good_sar'")).one()
    assert set(held) == set(POISON)
    for event_id, (_, _, message) in POISON.items():
        assert held[event_id].startswith(message), held[event_id]
    assert tuple(sar) == ("sar", 12345)


def test_stripe_only_payments_daily_counts_every_generated_charge(refreshed):
    """Succeeded charges and captured amounts per UTC day and currency, from the landing files themselves (the
    generated ones and the good sar charge; the poison ones are held back)."""
    _, engine, demo, *_ = refreshed
    winners = expected_latest_event_ids(Path(demo.out_dir))["stripe_charges"]
    objects = {}
    for path in Path(demo.out_dir).rglob("*.jsonl"):
        for line in path.read_text().splitlines():
            event = json.loads(line)
            if event["id"] in winners.values() and event["data"]["object"]["object"] == "charge":
                objects[event["data"]["object"]["id"]] = event["data"]["object"]
    expected: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    held_back_charges = {charge_id for charge_id, _, _ in POISON.values()}
    for charge in objects.values():
        if charge["id"] in held_back_charges:
            continue
        if charge["status"] == "succeeded" and charge.get("livemode") is False:
            key = (datetime.fromtimestamp(charge["created"], UTC).date(), charge["currency"])
            expected[key][0] += 1
            expected[key][1] += charge["amount_captured"] if charge["captured"] else 0
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "select day, currency, charges_succeeded, gross_amount_minor from analytics.payments_daily"
            " where not livemode and charges_succeeded > 0")).all()
    actual = {(day, currency): [succeeded, gross] for day, currency, succeeded, gross in rows}
    assert actual == dict(expected)
