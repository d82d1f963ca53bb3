"""A Stripe-only warehouse (no app tables) with poison events among good ones, refreshed while a second
`payops refresh` is started: both end cleanly, the good events reach the marts, the bad ones are listed with
their error. (Two refreshes that both wait run one after the other through the same lock; the test does not
pay for a second dbt build.)"""

from __future__ import annotations

import json
import os
import re
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
        engine = ready_engine(settings)
        env = {**os.environ, "PATH": f"{PAYOPS.parent}{os.pathsep}{os.environ['PATH']}"}
        first = subprocess.Popen([str(PAYOPS), "refresh"], env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 120
        while refresh_started_at(engine) is None:
            assert first.poll() is None and time.monotonic() < deadline, "the first refresh never took the lock"
            time.sleep(0.2)
        second = subprocess.run([str(PAYOPS), "refresh", "--no-wait"], env=env, capture_output=True, text=True,
                                timeout=120)
        outputs = [first.communicate(timeout=600)[0], second.stdout + second.stderr]
        codes = [first.returncode, second.returncode]
        yield settings, engine, demo, codes, outputs


def test_a_refresh_started_during_another_says_since_when_and_ends_cleanly(refreshed):
    _, _, _, codes, outputs = refreshed
    assert codes == [0, 0], outputs
    assert re.fullmatch(r"a refresh has been running since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \S+; "
                        r"not starting another\n", outputs[1]), outputs[1]


def test_poison_events_are_listed_with_their_error_and_the_good_ones_reach_the_marts(refreshed):
    _, engine, _, _, _ = refreshed
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
    settings, engine, demo, _, _ = refreshed
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
