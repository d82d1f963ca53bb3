"""An independent oracle for the finance marts (fct_balance_transactions, fct_payouts, payout_reconciliation,
balance_change_from_activity): expected rows in plain Python from the generated files (the balance as Stripe's
API lists it, the payout itemizations, and the event files for payouts and the objects transactions belong to),
from the issue's contract and docs/decisions.md, without reading the dbt SQL.

Amounts are integers in minor units; timestamps aware UTC datetimes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from oracle import _events_by_object
from oracle_marts import Reporting, latest_charges, latest_disputes, major, utc

PAYOUT_STATUS_RANK = {"pending": 0, "in_transit": 1, "paid": 2, "failed": 2, "canceled": 2}
NOT_ACTIVITY = {"payout", "payout_reversal"}
"""Stripe's balance change from activity leaves out money sent to the bank and its returns."""


@dataclass(frozen=True)
class Balance:
    listed: list[dict]
    """balance transactions as the API lists them (live)"""
    carried: dict[str, str]
    """txn id -> the automatic payout that carried it"""


def read_balance(folder: Path) -> Balance:
    def lines(name: str) -> list[dict]:
        path = folder / name
        return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]

    carried = {item["balance_transaction"]: item["payout"] for item in lines("payout_balance_transactions.jsonl")}
    return Balance(lines("balance_transactions.jsonl"), carried)


def latest_payouts(events: list[dict]) -> dict[str, dict]:
    """Payout id -> its newest state: event created, then status order, then a completed reconciliation."""
    def recency(event: dict) -> tuple[Any, ...]:
        payout = event["data"]["object"]
        return (event["created"], PAYOUT_STATUS_RANK.get(payout["status"], -1),
                payout.get("reconciliation_status") == "completed", event["id"])

    return {pid: max(history, key=recency)["data"]["object"]
            for pid, history in _events_by_object(events, "payout").items()}


def latest_refunds(events: list[dict]) -> dict[str, dict]:
    """Refund id -> any state (amount, currency and charge never change over a refund's life)."""
    return {rid: history[0]["data"]["object"] for rid, history in _events_by_object(events, "refund").items()}


def all_transactions(events: list[dict], balance: Balance) -> dict[str, tuple[dict, bool]]:
    """txn id -> (object, livemode): the API's listing (live), and the test-mode ones only disputes embed."""
    transactions = {txn["id"]: (txn, True) for txn in balance.listed}
    for dispute_events in _events_by_object(events, "dispute").values():
        for event in dispute_events:
            for txn in event["data"]["object"].get("balance_transactions") or []:
                transactions.setdefault(txn["id"], (txn, event["livemode"]))
    return transactions


def expected_fct_balance_transactions(events: list[dict], balance: Balance) -> dict[str, dict]:
    charges = latest_charges(events)
    refunds = latest_refunds(events)
    disputes = {did: obj for did, (obj, _) in latest_disputes(events).items()}
    payouts = latest_payouts(events)
    rows = {}
    for txn_id, (txn, livemode) in all_transactions(events, balance).items():
        source = txn["source"]
        sign = 1 if txn["amount"] >= 0 else -1
        charge_id = refund_id = dispute_id = payout_id = None
        facing: tuple[int, str] | tuple[None, None] = (None, None)
        if source in charges:
            charge_id = source
            facing = (charges[source]["amount_captured"], charges[source]["currency"])
        elif source in refunds:
            refund_id, charge_id = source, refunds[source]["charge"]
            facing = (sign * refunds[source]["amount"], refunds[source]["currency"])
        elif source in disputes:
            dispute_id, charge_id = source, disputes[source]["charge"]
            facing = (sign * disputes[source]["amount"], disputes[source]["currency"])
        elif source in payouts:
            payout_id = source
        rows[txn_id] = {
            "livemode": livemode, "type": txn["type"], "reporting_category": txn["reporting_category"],
            "source_id": source, "charge_id": charge_id, "refund_id": refund_id, "dispute_id": dispute_id,
            "payout_id": payout_id,
            "payment_intent_id": charges[charge_id]["payment_intent"] if charge_id in charges else None,
            "currency": txn["currency"], "amount_minor": txn["amount"], "fee_minor": txn["fee"],
            "net_minor": txn["net"], "amount": major(txn["amount"], txn["currency"]),
            "fee": major(txn["fee"], txn["currency"]), "net": major(txn["net"], txn["currency"]),
            "stripe_fee_minor": sum(d["amount"] for d in txn["fee_details"] if d["type"] == "stripe_fee"),
            "exchange_rate": None if txn["exchange_rate"] is None else Decimal(str(txn["exchange_rate"])),
            "customer_facing_amount_minor": facing[0], "customer_facing_currency": facing[1],
            "customer_facing_amount": None if facing[0] is None else major(*facing),
            "created_at": utc(txn["created"]), "available_on": utc(txn["available_on"]), "status": txn["status"],
            "automatic_payout_id": balance.carried.get(txn_id),
        }
    return rows


def expected_fct_payouts(events: list[dict], balance: Balance) -> dict[str, dict]:
    net = {txn["id"]: txn["net"] for txn in balance.listed}
    itemized: dict[str, list[int]] = {}
    for txn_id, payout_id in balance.carried.items():
        itemized.setdefault(payout_id, []).append(net[txn_id])
    rows = {}
    for payout_id, payout in latest_payouts(events).items():
        nets = itemized.get(payout_id)
        rows[payout_id] = {
            "status": payout["status"], "amount_minor": payout["amount"], "currency": payout["currency"],
            "amount": major(payout["amount"], payout["currency"]), "created_at": utc(payout["created"]),
            "arrival_date": utc(payout["arrival_date"]), "method": payout["method"],
            "automatic": payout["automatic"], "failure_code": payout["failure_code"],
            "failure_message": payout["failure_message"], "reconciliation_status": payout["reconciliation_status"],
            "itemized_transactions": len(nets or ()),
            "itemized_net_minor": sum(nets) if nets is not None else None,
        }
    return rows


def expected_payout_reconciliation(events: list[dict], balance: Balance) -> dict[tuple[str, str], dict]:
    """('payout', po id) for each paid automatic payout; ('unpaid_transaction', txn id) for each live
    transaction no payout carried (the payouts' own aside)."""
    rows: dict[tuple[str, str], dict] = {}
    for payout_id, payout in expected_fct_payouts(events, balance).items():
        if payout["status"] == "paid" and payout["automatic"]:
            itemized = payout["itemized_net_minor"] or 0
            rows[("payout", payout_id)] = {"amount_minor": payout["amount_minor"], "itemized_net_minor": itemized,
                                           "difference_minor": payout["amount_minor"] - itemized,
                                           "is_reconciled": payout["amount_minor"] == itemized}
    for txn in balance.listed:
        if txn["id"] not in balance.carried and txn["type"] != "payout":
            rows[("unpaid_transaction", txn["id"])] = {"amount_minor": txn["net"], "created_at": utc(txn["created"])}
    return rows


def expected_balance_change_from_activity(events: list[dict], balance: Balance) -> dict[str, dict]:
    charges = latest_charges(events)
    disputes = {did: obj for did, (obj, _) in latest_disputes(events).items()}
    payouts = latest_payouts(events)
    rows = {}
    for txn_id, row in expected_fct_balance_transactions(events, balance).items():
        if not row["livemode"] or row["reporting_category"] in NOT_ACTIVITY:
            continue
        charge = charges.get(row["charge_id"]) or {}
        card = (charge.get("payment_method_details") or {}).get("card") or {}
        payout = payouts.get(row["automatic_payout_id"])
        rows[txn_id] = {
            "gross": row["amount"], "fee": row["fee"], "net": row["net"], "currency": row["currency"],
            "reporting_category": row["reporting_category"], "source_id": row["source_id"],
            "customer_facing_amount": row["customer_facing_amount"],
            "customer_facing_currency": row["customer_facing_currency"],
            "automatic_payout_id": row["automatic_payout_id"],
            "automatic_payout_effective_at": utc(payout["arrival_date"]) if payout else None,
            "customer_id": charge.get("customer"), "charge_id": row["charge_id"],
            "card_brand": card.get("brand"), "card_country": card.get("country"),
            "dispute_reason": disputes[row["dispute_id"]]["reason"] if row["dispute_id"] else None,
        }
    return rows


def sum_by(rows: Iterable[dict], key: str, value: str) -> dict[Any, int]:
    totals: dict[Any, int] = {}
    for row in rows:
        totals[row[key]] = totals.get(row[key], 0) + row[value]
    return totals


SETTLEMENT_COLUMNS = ("settlement_gross_amount_minor", "fee_amount_minor", "settlement_net_amount_minor",
                      "net_after_fees_amount_minor")


def expected_payments_daily_settlement(events: list[dict], balance: Balance, timezone: str) -> dict[tuple, dict]:
    """(day, presentment currency, livemode) -> payments_daily's settlement columns, for the days with any: a
    captured charge's transaction on the charge's day, a refund's on its own day, a lost dispute's withdrawal on
    the day the dispute first showed its final status."""
    reporting = Reporting(timezone)
    charges = latest_charges(events)
    refunds = latest_refunds(events)
    lost = {}
    for dispute_id, (dispute, history) in latest_disputes(events).items():
        if dispute["status"] == "lost":
            closed = min(e["created"] for e in history if e["data"]["object"]["status"] == "lost")
            lost[dispute_id] = (reporting.day(closed), dispute["currency"])
    figures: dict[tuple, dict[str, int]] = {}

    def add(day, currency: str, gross: int = 0, fee: int = 0, taken: int = 0) -> None:
        row = figures.setdefault((day, currency, True), dict.fromkeys(("gross", "fee", "taken"), 0))
        row["gross"] += gross
        row["fee"] += fee
        row["taken"] += taken

    for txn in balance.listed:
        charge = charges.get(txn["source"])
        if charge and charge["status"] == "succeeded" and charge["captured"]:
            add(reporting.day(charge["created"]), charge["currency"], gross=txn["amount"], fee=txn["fee"])
        elif txn["source"] in refunds:
            add(reporting.day(txn["created"]), refunds[txn["source"]]["currency"], taken=-txn["amount"])
        elif txn["source"] in lost:
            add(*lost[txn["source"]], taken=-txn["amount"])
    return {key: {"settlement_gross_amount_minor": f["gross"], "fee_amount_minor": f["fee"],
                  "settlement_net_amount_minor": f["gross"] - f["taken"],
                  "net_after_fees_amount_minor": f["gross"] - f["taken"] - f["fee"]}
            for key, f in figures.items()}
