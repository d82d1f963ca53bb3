"""The demo-data generator, checked by reading back what it wrote (event files and the app tables on an
embedded Postgres), never by asking the generator what it meant to write."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from demo.generate import DemoSummary, generate_demo_data
from payops.db import app_engine, stop_embedded
from payops.settings import Settings

END = date(2026, 6, 30)
SMALL = {"days": 20, "students": 40, "end": END}
ENVELOPE_KEYS = {"id", "object", "api_version", "created", "data", "livemode", "pending_webhooks", "request", "type"}
APP_TABLES = ("families", "students", "lesson_packages", "purchase_transactions", "student_account_balances",
              "stored_payment_methods", "receipts")
EXPONENT = {"usd": 2, "eur": 2, "gbp": 2, "brl": 2, "jpy": 0, "kwd": 3}
CARD_NUMBER = re.compile(rb"(?<!\d)\d{13,19}(?!\d)")


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    home = tmp_path_factory.mktemp("payops")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PAYOPS_HOME", str(home))
        for name in ("WAREHOUSE_URL", "APP_DATABASE_URL"):
            env.delenv(name, raising=False)
        settings = Settings.from_env()
        try:
            yield settings
        finally:
            stop_embedded(settings)


def generate(settings: Settings, out_dir: Path, **kwargs: Any) -> DemoSummary:
    return generate_demo_data(settings, out_dir=out_dir, progress=False, **(SMALL | kwargs))


def read_tables(settings: Settings) -> dict[str, list[tuple]]:
    with app_engine(settings).connect() as conn:
        return {t: [tuple(r) for r in conn.execute(sa.text(f"select * from app.{t} order by id"))] for t in APP_TABLES}


def jsonl_bytes(out_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out_dir.glob("events-*.jsonl"))}


def lines(out_dir: Path) -> list[bytes]:
    return [line for body in jsonl_bytes(out_dir).values() for line in body.splitlines()]


@pytest.fixture(scope="module")
def small(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> tuple[DemoSummary, dict[str, list[tuple]]]:
    summary = generate(settings, tmp_path_factory.mktemp("small"))
    return summary, read_tables(settings)


@pytest.fixture(scope="module")
def small_events(small: tuple[DemoSummary, Any]) -> list[dict]:
    """Unique events, in arrival order."""
    seen: dict[str, dict] = {}
    for line in lines(small[0].out_dir):
        event = orjson.loads(line)
        seen.setdefault(event["id"], event)
    return list(seen.values())


def latest(events: list[dict], object_type: str) -> dict[str, dict]:
    """Each object's newest state, by event `created` (not arrival). Stripe's 1 s resolution gives ties (a
    dispute's created and funds_withdrawn); the object's own fields break them: more money movements is later."""
    newest: dict[str, tuple[int, dict]] = {}
    for event in sorted(events, key=lambda e: (e["created"], len(e["data"]["object"].get("balance_transactions", ())))):
        obj = event["data"]["object"]
        if obj["object"] == object_type:
            newest[obj["id"]] = (event["created"], obj)
    return {k: v for k, (_, v) in newest.items()}


def of_type(events: list[dict], type_: str) -> list[dict]:
    return [e["data"]["object"] for e in events if e["type"] == type_]


# -- determinism ----------------------------------------------------------------------------------------------


def test_same_seed_gives_identical_files_and_tables(settings, small, tmp_path):
    summary, tables = small
    again = generate(settings, tmp_path / "again")
    assert jsonl_bytes(again.out_dir) == jsonl_bytes(summary.out_dir)
    assert read_tables(settings) == tables
    assert again.disagreements == summary.disagreements


def test_another_seed_gives_other_data(settings, small, tmp_path):
    summary, tables = small
    other = generate(settings, tmp_path / "other", seed=8)
    assert jsonl_bytes(other.out_dir) != jsonl_bytes(summary.out_dir)
    assert read_tables(settings)["purchase_transactions"] != tables["purchase_transactions"]


def test_files_format_holds_the_same_deliveries(settings, small, tmp_path):
    summary = generate(settings, tmp_path, fmt="files", write_app=False)
    files = sorted(tmp_path.glob("events-*/*.json"))
    assert len(files) == summary.files == summary.events_written
    assert all(f.name == orjson.loads(f.read_bytes())["id"] + ".json" for f in files)
    assert max(Counter(f.parent for f in files).values()) <= 10_000
    assert Counter(f.read_bytes() for f in files) == Counter(lines(small[0].out_dir))


# -- the envelope and the delivery realities --------------------------------------------------------------------


def test_every_line_is_a_stripe_event_within_the_window(small):
    summary, _ = small
    last_second = datetime.combine(END + timedelta(days=1), time(), UTC).timestamp() - 1
    all_lines = lines(summary.out_dir)
    assert len(all_lines) == summary.events_written > summary.unique_events
    for line in all_lines:
        event = orjson.loads(line)
        assert event.keys() == ENVELOPE_KEYS
        assert event["object"] == "event" and event["id"].startswith("evt_")
        assert event["api_version"] == "2026-07-29.dahlia"
        assert event["created"] <= last_second
        assert event["request"].keys() == {"id", "idempotency_key"}
        obj = event["data"]["object"]
        expected = {"charge.dispute": "dispute", "charge.refund": "refund"}.get(
            event["type"].rsplit(".", 1)[0], event["type"].split(".")[0])
        assert obj["object"] == expected, event["type"]
        prefixes = {"charge": "ch_", "payment_intent": "pi_", "refund": "re_", "dispute": "dp_", "payout": "po_"}
        prefix = prefixes[expected]
        assert obj["id"].startswith(prefix)


def test_duplicates_are_byte_identical_and_everything_else_unique(small):
    by_id: defaultdict[str, list[bytes]] = defaultdict(list)
    for line in lines(small[0].out_dir):
        by_id[orjson.loads(line)["id"]].append(line)
    copies = {k: v for k, v in by_id.items() if len(v) > 1}
    assert copies, "no duplicate delivery"
    assert all(len(set(v)) == 1 and len(v) == 2 for v in copies.values())
    assert len(by_id) == small[0].unique_events


def test_deliveries_arrive_out_of_order(small_events):
    refunded_arrivals: defaultdict[str, list[int]] = defaultdict(list)
    for event in small_events:
        if event["type"] == "charge.refunded":
            refunded_arrivals[event["data"]["object"]["id"]].append(event["created"])
    assert any(created != sorted(created) for created in refunded_arrivals.values()), \
        "no charge whose two charge.refunded arrive in reverse order"


# -- the scenarios, read back from the files --------------------------------------------------------------------


@pytest.fixture(scope="module")
def default_events(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    out_dir = tmp_path_factory.mktemp("default")
    generate_demo_data(settings, end=END, out_dir=out_dir, progress=False, write_app=False)
    return list({e["id"]: e for e in map(orjson.loads, lines(out_dir))}.values())


@pytest.mark.parametrize("events_fixture", ["small_events", "default_events"])
def test_every_scenario_appears(events_fixture, request):
    events: list[dict] = request.getfixturevalue(events_fixture)
    charges = latest(events, "charge")
    by_intent: defaultdict[str, list[dict]] = defaultdict(list)
    for ch in sorted(charges.values(), key=lambda c: c["created"]):
        by_intent[ch["payment_intent"]].append(ch)
    attempts = [[c["status"] for c in chs] for chs in by_intent.values()]
    failed = [c for c in charges.values() if c["status"] == "failed"]

    assert ["failed", "succeeded"] in attempts, "a decline recovered on the same payment intent"
    assert any(set(a) == {"failed"} for a in attempts), "a payment that never succeeded"
    assert all(c["failure_code"] and c["outcome"]["reason"] and c["outcome"]["type"] != "authorized" for c in failed)
    assert any(c["outcome"]["type"] == "blocked" and c["outcome"]["risk_level"] == "highest" for c in failed)
    errors = [pi["last_payment_error"] for pi in of_type(events, "payment_intent.payment_failed")]
    assert errors and all(e["code"] and e["decline_code"] and e["message"] for e in errors)

    authorized = [c for c in of_type(events, "charge.succeeded") if not c["captured"]]
    assert authorized and all(c["amount_captured"] == 0 and c["status"] == "succeeded" for c in authorized)
    assert of_type(events, "charge.captured") and of_type(events, "charge.expired")

    refunded = of_type(events, "charge.refunded")
    assert any(c["refunded"] for c in refunded) and any(not c["refunded"] for c in refunded)
    assert max(Counter(r["charge"] for r in of_type(events, "refund.created")).values()) >= 2
    assert any(
        e["data"]["previous_attributes"] == {"status": "pending"} for e in events if e["type"] == "refund.updated"
    )
    assert of_type(events, "refund.failed") and of_type(events, "charge.refund.updated")

    disputes = latest(events, "dispute")
    statuses = Counter(d["status"] for d in disputes.values())
    assert statuses["won"] and statuses["lost"] and statuses["warning_closed"]
    assert statuses["needs_response"] + statuses["under_review"], "a dispute still open at the end"
    assert max(Counter(d["charge"] for d in disputes.values()).values()) == 2, "a charge disputed twice"
    for d in disputes.values():
        # In the settlement currency (usd), converted at Stripe's rate of the day when the dispute was in another.
        money = [(t["currency"], t["amount"], t["fee"]) for t in d["balance_transactions"]]
        settled = [int((Decimal(d["amount"]).scaleb(-EXPONENT[d["currency"]]) * Decimal(str(t["exchange_rate"] or 1))
                        * 100).quantize(Decimal(1), ROUND_HALF_UP)) for t in d["balance_transactions"]]
        if d["status"].startswith("warning"):  # inquiries move no money
            assert money == []
            continue
        expected = {"won": [("usd", -settled[0], 1500), ("usd", settled[-1], 0)]}.get(
            d["status"], [("usd", -settled[0], 1500)])
        assert money == expected
        assert all((t["exchange_rate"] is None) == (d["currency"] == "usd") for t in d["balance_transactions"])

    assert {c["currency"] for c in charges.values()} == set(EXPONENT)
    assert {e["livemode"] for e in events} == {True, False}


def test_default_set_rates_look_like_a_real_business(default_events):
    charges = latest(default_events, "charge")
    failure_rate = sum(c["status"] == "failed" for c in charges.values()) / len(charges)
    captured = [c for c in charges.values() if c["captured"]]
    dispute_rate = len(latest(default_events, "dispute")) / len(captured)
    test_mode = sum(not e["livemode"] for e in default_events) / len(default_events)
    assert 0.08 <= failure_rate <= 0.12
    assert 0.005 <= dispute_rate <= 0.01
    assert 0.01 <= test_mode <= 0.05


def test_amount_refunded_is_cumulative_and_matches_the_refunds(small_events):
    refunds = latest(small_events, "refund")
    changes: defaultdict[str, list[dict]] = defaultdict(list)
    for event in small_events:
        previous = event["data"].get("previous_attributes", {})
        if event["data"]["object"]["object"] == "charge" and "amount_refunded" in previous:
            changes[event["data"]["object"]["id"]].append(event)
    checked = 0
    for charge_id, events in changes.items():
        events.sort(key=lambda e: e["created"])
        charge = events[-1]["data"]["object"]
        if not charge["captured"]:
            continue  # an expired authorization is released, not refunded: no refund objects
        before = 0
        for event in events:
            assert event["data"]["previous_attributes"]["amount_refunded"] == before
            before = event["data"]["object"]["amount_refunded"]
        standing = sum(r["amount"] for r in refunds.values() if r["charge"] == charge_id and r["status"] != "failed")
        assert charge["amount_refunded"] == standing <= charge["amount_captured"]
        checked += 1
    assert checked >= 4


def test_no_card_numbers_anywhere(small):
    summary, tables = small
    assert not CARD_NUMBER.search(b"\n".join(lines(summary.out_dir)))
    assert not CARD_NUMBER.search(repr(tables).encode())


# -- the app's tables against Stripe ----------------------------------------------------------------------------


def test_app_purchases_agree_with_stripe_except_the_recorded_disagreements(small, small_events):
    summary, tables = small
    charges = latest(small_events, "charge")
    recorded = {(d.kind, d.purchase_id) for d in summary.disagreements}
    columns = ("id", "student_id", "package_id", "transaction_type", "payment_status", "hours_purchased", "amount",
               "currency", "stripe_payment_intent_id", "stripe_charge_id", "stripe_customer_id", "livemode",
               "expires_at", "metadata", "created_at", "updated_at")
    purchases = [dict(zip(columns, row, strict=True)) for row in tables["purchase_transactions"]]
    statuses = Counter(p["payment_status"] for p in purchases)
    assert statuses.keys() >= {"completed", "failed", "refunded", "cancelled"}
    for p in purchases:
        charge = charges.get(p["stripe_charge_id"])
        if charge is None:
            assert p["payment_status"] in ("pending", "cancelled")
            continue
        assert charge["metadata"]["purchase_transaction_id"] == str(p["id"])
        assert charge["metadata"]["student_id"] == str(p["student_id"])
        assert (charge["customer"], charge["livemode"], charge["currency"]) == (
            p["stripe_customer_id"], p["livemode"], p["currency"])
        stripe_amount = p["amount"] * 10 ** EXPONENT[p["currency"]]
        assert (stripe_amount == charge["amount"]) != (("amount_mismatch", p["id"]) in recorded)
        stripe_status = ("refunded" if charge["refunded"] and charge["captured"] else
                         "completed" if charge["captured"] else
                         "failed" if charge["status"] == "failed" else
                         "cancelled" if charge["refunded"] else "processing")
        assert (p["payment_status"] == stripe_status) != (("completed_but_failed", p["id"]) in recorded)

    without_purchase = [c for c in charges.values() if "purchase_transaction_id" not in c["metadata"]]
    assert [("charge_without_purchase", c["id"]) for c in without_purchase] == [
        (d.kind, d.charge_id) for d in summary.disagreements if d.kind == "charge_without_purchase"]
    assert {d.kind for d in summary.disagreements} == {"completed_but_failed", "charge_without_purchase",
                                                       "amount_mismatch"}


def test_zero_and_three_decimal_currencies(small, small_events):
    _, tables = small
    price = {(name, currency): amount for _, name, _, amount, currency, *_ in tables["lesson_packages"]}
    assert price[("Trial lesson", "jpy")] == Decimal(5000)
    assert price[("10-hour pack", "kwd")] == Decimal("92.250")
    charged = {(c["currency"], c["amount"]) for c in latest(small_events, "charge").values()}
    assert ("jpy", 5000) in charged and ("kwd", 92250) in charged
    assert not {a for cur, a in charged if cur == "jpy"} & {500000, 50}


def test_balances_come_from_completed_live_purchases(small):
    _, tables = small
    hours: Counter[int] = Counter()
    for _, student, _, _, status, purchased, _, _, _, _, _, live, *_ in tables["purchase_transactions"]:
        if status == "completed" and live:
            hours[student] += purchased
    balances = tables["student_account_balances"]
    assert len(balances) == len(tables["students"])
    for _, student, purchased, consumed, amount, *_ in balances:
        assert purchased == hours[student]
        assert 0 <= consumed <= purchased and amount >= 0
