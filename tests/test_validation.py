"""Validate before state: an object the models cannot read is held back as failed with a message naming the
field and its value; it never reaches a state table and the events around it go on."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import iso4217
import orjson
import pytest
import sqlalchemy as sa

from ingest.currencies import SEED, STRIPE_EXPONENTS, read_seed
from ingest.processing import process_pending, retry_failed
from ingest.stripe_events import load_events
from ingest.validation import STATUSES

T0 = 1_780_000_000
STAGING_DIR = Path(__file__).parents[1] / "dbt" / "models" / "staging" / "stripe"


pytestmark = pytest.mark.usefixtures("empty_event_tables")


def event(event_id: str, obj: dict) -> dict:
    return {"id": event_id, "object": "event", "api_version": "2026-07-29.dahlia", "created": T0,
            "livemode": False, "type": f"{obj.get('object', 'charge')}.updated", "data": {"object": obj}}


def charge(charge_id: str, **fields) -> dict:
    return {"id": charge_id, "object": "charge", "amount": 2000, "amount_captured": 2000, "amount_refunded": 0,
            "currency": "usd", "status": "succeeded", "captured": True, "disputed": False, "created": T0, **fields}


def without(obj: dict, field: str) -> dict:
    return {k: v for k, v in obj.items() if k != field}


POISON = {
    "evt_abc": (charge("ch_abc", amount="abc"), "charge ch_abc amount is \"abc\", want an integer"),
    "evt_missing": (without(charge("ch_missing"), "amount"), "charge ch_missing amount is missing, want an integer"),
    "evt_float": (charge("ch_float", amount=12.5), "charge ch_float amount is 12.5, want an integer"),
    "evt_soon": (charge("ch_soon", created="soon"), "charge ch_soon created is \"soon\", want a unix timestamp"),
    "evt_far": (charge("ch_far", created=253402300800), "charge ch_far created is 253402300800, want a unix"),
    "evt_status": (charge("ch_status", status="weird"), "charge ch_status status is \"weird\", want one of pending"),
    "evt_captured": (charge("ch_cap", captured="yes"), "charge ch_cap captured is \"yes\", want true or false"),
    "evt_xyz": (charge("ch_xyz", currency="xyz"),
                "charge ch_xyz currency is \"xyz\", want a currency of dbt/seeds/currencies.csv: add a row `xyz,"),
    "evt_risk": (charge("ch_risk", outcome={"risk_score": 2**40}),
                 "charge ch_risk outcome.risk_score is 1099511627776"),
    "evt_customer_created": ({"id": "cus_1", "object": "customer", "created": "soon"},
                             "event object cus_1 created is \"soon\""),
    "evt_dispute_txn": ({"id": "dp_1", "object": "dispute", "amount": 100, "currency": "usd", "status": "lost",
                         "charge": "ch_1", "created": T0,
                         "balance_transactions": [{"id": "txn_1", "object": "balance_transaction", "amount": -100,
                                                   "fee": "1500", "net": -1600, "currency": "usd", "created": T0}]},
                        "balance_transaction txn_1 fee is \"1500\", want an integer"),
    "evt_payout": ({"id": "po_1", "object": "payout", "amount": "12.00", "currency": "usd", "status": "paid",
                    "created": T0}, "payout po_1 amount is \"12.00\", want an integer"),
}


def test_poison_objects_are_held_back_with_a_message_naming_field_and_value(engine):
    good = [event("evt_good_sar", charge("ch_sar", currency="sar")), event("evt_good", charge("ch_good"))]
    poison = [event(event_id, obj) for event_id, (obj, _) in POISON.items()]
    load_events(engine, [(e["id"], orjson.dumps(e)) for e in [*poison, *good]], source="webhook")

    result = process_pending(engine)

    assert (result.processed, result.failed, result.held_back, result.retrying) == (2, len(POISON), len(POISON), 0)
    with engine.connect() as conn:
        log = dict(conn.execute(sa.text(
            "select event_id, error_message from ops.webhook_event_log where status = 'failed'")).all())
        charges = set(conn.execute(sa.text("select id from raw.stripe_charges")).scalars())
        others = conn.execute(sa.text(
            "select count(*) from raw.stripe_disputes, raw.stripe_balance_transactions, raw.stripe_payouts")).scalar()
    assert charges == {"ch_sar", "ch_good"}
    assert others == 0
    for event_id, (_, message) in POISON.items():
        assert log[event_id].startswith(message), (event_id, log[event_id])


def test_a_currency_added_to_the_seed_brings_its_events_in_on_retry(engine, tmp_path, monkeypatch):
    load_events(engine, [("x", orjson.dumps(event("evt_new_money", charge("ch_new", currency="zzz"))))],
                source="webhook")
    assert process_pending(engine).held_back == 1

    seed = tmp_path / "currencies.csv"
    seed.write_text(SEED.read_text() + "zzz,2,Test Money\n")
    monkeypatch.setattr("ingest.validation.read_seed", lambda: read_seed(seed))
    assert retry_failed(engine) == 1
    assert process_pending(engine).processed == 1
    with engine.connect() as conn:
        assert conn.execute(sa.text("select id from raw.stripe_charges")).scalars().all() == ["ch_new"]


def test_the_statuses_checked_are_the_staging_contracts():
    text = "\n".join(path.read_text() for path in sorted(STAGING_DIR.glob("stg_stripe__*.yml")))
    for statuses in STATUSES.values():
        listed = ", ".join(f"'{status}'" for status in statuses)
        assert re.search(re.escape(listed).replace(",\\ ", r",\s+"), text), statuses


def test_the_seed_holds_every_iso_currency_with_stripes_exponent():
    with SEED.open() as seed:
        rows = {row["currency"]: int(row["exponent"]) for row in csv.DictReader(seed)}
    iso = {c.code.lower(): c.exponent for c in iso4217.Currency if c.exponent in (0, 2, 3)}
    assert {code: STRIPE_EXPONENTS.get(code, exponent) for code, exponent in iso.items()}.items() <= rows.items()
    # The fourteen missing codes, and Stripe's exceptions to ISO 4217 (docs/decisions.md).
    for code in ("sar", "ngn", "kes", "egp", "pkr", "cop", "pen", "ars", "uah", "kzt", "bdt", "lkr", "mad", "qar"):
        assert rows[code] == 2
    assert (rows["isk"], rows["mga"], rows["jpy"], rows["kwd"], rows["huf"]) == (2, 0, 0, 3, 2)
