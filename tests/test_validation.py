"""Validate before state: an object the models cannot read is held back as failed with a message naming the
field and its value; it never reaches a state table and the events around it go on."""

from __future__ import annotations

import csv
import re
import secrets
from pathlib import Path

import iso4217
import orjson
import pytest
import sqlalchemy as sa

from ingest.currencies import SEED, STRIPE_EXPONENTS, read_seed
from ingest.processing import STATE_TABLES, process_pending, retry_failed
from ingest.stripe_events import load_events
from ingest.validation import RULES, STATUSES

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


# (field, JSON text as sent, held back?): what the models' reads accept. `jsonb_to_record(...) as (x bigint)`
# casts the number's printed form, so 1.0 fails and 1e3 (stored as 1000) passes; 18 digits stay inside bigint;
# risk_score is read as integer; `created` must be a second Python can show; optional fields may be null.
NUMBERS = [
    ("amount", "0", False), ("amount", "-5", False), ("amount", "1e3", False), ("amount", "1.5E1", False),
    ("amount", "999999999999999999", False), ("amount", "-999999999999999999", False),
    ("amount", "1000000000000000000", True), ("amount", "1.0", True), ("amount", "12.5", True),
    ("amount", "1.50e1", True), ("amount", '"12"', True), ("amount", "true", True), ("amount", "null", True),
    ("amount", "[1]", True),
    ("amount_refunded", "null", False), ("amount_refunded", "7", False), ("amount_refunded", "7.0", True),
    ("created", "0", False), ("created", "253402300799", False), ("created", "1.78e9", False),
    ("created", "-1", True), ("created", "253402300800", True), ("created", "1780000000.5", True),
    ("created", "null", True),
]
RISK_SCORES = [("2147483647", False), ("-2147483648", False), ("2147483648", True), ("-2147483649", True),
               ("null", False), ("65.0", True)]


def test_numbers_are_held_back_exactly_when_the_models_could_not_read_them(engine):
    def raw_event(event_id: str, charge_fields: dict, json_text: str) -> tuple[str, bytes]:
        # The raw text is stored as sent, so a literal like 1e3 or 1.0 reaches Postgres as written.
        body = orjson.dumps(event(event_id, charge(event_id.replace("evt", "ch"), **charge_fields)))
        return event_id, body.replace(b'"<value>"', json_text.encode())

    deliveries, expected = [], {}
    for number, (field, json_text, held) in enumerate(NUMBERS):
        deliveries.append(raw_event(f"evt_n{number}", {field: "<value>"}, json_text))
        expected[f"evt_n{number}"] = held
    for number, (json_text, held) in enumerate(RISK_SCORES):
        deliveries.append(raw_event(f"evt_r{number}", {"outcome": {"risk_score": "<value>"}}, json_text))
        expected[f"evt_r{number}"] = held
    load_events(engine, deliveries, source="webhook")

    process_pending(engine)

    with engine.connect() as conn:
        statuses = dict(conn.execute(sa.text("select event_id, status from ops.webhook_event_log")).all())
        # Every charge applied is one the staging model's typed read takes.
        conn.execute(sa.text("""
            select amount, amount_refunded, created, (outcome ->> 'risk_score')::integer
            from raw.stripe_charges, jsonb_to_record(object)
                as charge (amount bigint, amount_refunded bigint, created bigint, outcome jsonb)
        """)).all()
    assert {event_id: status == "failed" for event_id, status in statuses.items()} == expected


def test_every_kind_a_state_table_holds_checks_created():
    # Processing gives the EVENT_OBJECT kind (whose one rule is `created`) only to objects no state table holds.
    for table in STATE_TABLES:
        assert "created" in {rule.path for rule in RULES[table.kind]}, table.kind


def test_held_back_and_refused_events_in_one_batch_each_get_their_own_outcome(engine):
    # Valid in shape, but an id too long to index (random, so compression cannot shrink it under the limit).
    refused = event("evt_refused", charge("ch_" + secrets.token_hex(4000)))
    poison = event("evt_poison", charge("ch_poison", amount="abc"))
    good = [event(f"evt_good_{n}", charge(f"ch_good_{n}")) for n in range(30)]
    load_events(engine, [(e["id"], orjson.dumps(e)) for e in [refused, poison, *good]], source="webhook")

    result = process_pending(engine)

    assert (result.processed, result.held_back, result.retrying) == (30, 1, 1)
    with engine.connect() as conn:
        log = {row.event_id: row for row in conn.execute(sa.text(
            "select event_id, status, error_message from ops.webhook_event_log"))}
        charges = set(conn.execute(sa.text("select id from raw.stripe_charges")).scalars())
    assert charges == {f"ch_good_{n}" for n in range(30)}
    assert (log["evt_poison"].status, log["evt_refused"].status) == ("failed", "retrying")
    assert log["evt_poison"].error_message.startswith('charge ch_poison amount is "abc"')
    assert "index row size" in log["evt_refused"].error_message
    assert result.rows_written["stripe_charges"] == 30


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
