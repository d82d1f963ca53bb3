"""An independent oracle for analytics.payments_daily: the figures computed in plain Python straight from
Stripe event files, from the definitions in docs/decisions.md, without reading or reusing the dbt SQL.
The end-to-end test compares the mart with these; agreement means both readings of the definitions match.

All amounts are integers in the currency's minor unit. A key is (reporting day, lowercase currency,
livemode); only keys with a non-zero figure are returned (the mart is zero-filled, missing = zeros)."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

Key = tuple[date, str, bool]

CHARGE_STATUS_RANK = {"pending": 0, "failed": 1, "succeeded": 2}
FINAL_DISPUTE_STATUSES = {"won", "lost", "prevented", "warning_closed"}


@dataclass
class Figures:
    charge_attempts: int = 0
    charges_succeeded: int = 0
    charges_failed: int = 0
    gross_amount_minor: int = 0
    refunded_amount_minor: int = 0
    dispute_loss_amount_minor: int = 0
    net_amount_minor: int = 0
    dispute_fee_amount_minor: int = 0


FIGURE_COLUMNS = tuple(field.name for field in fields(Figures))
"""Each figure is named as its payments_daily column."""


def read_events(paths: Iterable[Path]) -> list[dict]:
    """Every event in the .jsonl files (one per line) and .json files (one event each) given, or found under
    the given folders, each event id once: deliveries are at least once, so a repeated id is one event."""
    events: dict[str, dict] = {}
    for path in _event_files(paths):
        if path.suffix == ".jsonl":
            bodies = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        else:
            bodies = [path.read_text(encoding="utf-8")]
        for body in bodies:
            event = json.loads(body)
            events.setdefault(event["id"], event)
    return list(events.values())


def _event_files(paths: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in (".jsonl", ".json"))
        else:
            files.append(path)
    return files


def expected_payments_daily(events: list[dict], timezone: str = "UTC") -> dict[Key, Figures]:
    zone = ZoneInfo(timezone)

    def day(timestamp: int) -> date:
        return datetime.fromtimestamp(timestamp, zone).date()

    figures: dict[Key, Figures] = defaultdict(Figures)
    charge_events = _events_by_object(events, "charge")
    dispute_events = _events_by_object(events, "dispute")

    for history in charge_events.values():
        charge = max(history, key=_charge_recency)["data"]["object"]
        currency, livemode = charge["currency"].lower(), charge["livemode"]
        on_charge_day = figures[(day(charge["created"]), currency, livemode)]
        on_charge_day.charge_attempts += 1
        if charge["status"] == "succeeded":
            on_charge_day.charges_succeeded += 1
            if charge["captured"]:
                on_charge_day.gross_amount_minor += charge["amount_captured"]
        elif charge["status"] == "failed":
            on_charge_day.charges_failed += 1
        # A released authorization also gets amount_refunded although no money moved; only captured
        # charges have refunds.
        if charge["captured"]:
            for event_created, increment in _refund_increments(history):
                if increment:
                    figures[(day(event_created), currency, livemode)].refunded_amount_minor += increment

    fees_by_txn: dict[str, tuple[dict, bool]] = {}
    for history in dispute_events.values():
        dispute = max(history, key=_dispute_recency)["data"]["object"]
        if dispute["status"] == "lost":
            # The first event showing 'lost' is when the loss became final; later repeats must not move it.
            closed_at = min(e["created"] for e in history if e["data"]["object"]["status"] == "lost")
            key = (day(closed_at), dispute["currency"].lower(), dispute["livemode"])
            figures[key].dispute_loss_amount_minor += dispute["amount"]
        # Every later event of a dispute repeats its balance transactions: one fee per transaction id.
        for event in sorted(history, key=lambda e: (e["created"], e["id"])):
            for txn in event["data"]["object"].get("balance_transactions") or []:
                fees_by_txn.setdefault(txn["id"], (txn, dispute["livemode"]))
    for txn, livemode in fees_by_txn.values():
        figures[(day(txn["created"]), txn["currency"].lower(), livemode)].dispute_fee_amount_minor += txn["fee"]

    for f in figures.values():
        f.net_amount_minor = f.gross_amount_minor - f.refunded_amount_minor - f.dispute_loss_amount_minor
    return {key: f for key, f in figures.items() if any(getattr(f, field.name) for field in fields(f))}


def _events_by_object(events: list[dict], object_type: str) -> dict[str, list[dict]]:
    """Events grouped by the id of the object they carry, whatever the event type: charge.dispute.* events
    carry disputes, charge.refund.updated and refund.* carry refunds, which therefore never count as charges."""
    by_object: dict[str, list[dict]] = defaultdict(list)
    for event in events:
        obj = event["data"]["object"]
        if obj.get("object") == object_type:
            by_object[obj["id"]].append(event)
    return by_object


def _charge_recency(event: dict) -> tuple[Any, ...]:
    """Newest event first; within one second (Stripe's resolution) the further-along state wins."""
    charge = event["data"]["object"]
    return (event["created"], CHARGE_STATUS_RANK[charge["status"]], charge["captured"],
            charge["amount_refunded"], event["id"])


def _dispute_recency(event: dict) -> tuple[Any, ...]:
    final = event["data"]["object"]["status"] in FINAL_DISPUTE_STATUSES
    return (event["created"], final, event["id"])


def _refund_increments(history: list[dict]) -> list[tuple[int, int]]:
    """(event created, change of the cumulative amount_refunded since the previous event) for each event of
    one charge. The increments always add up to the newest cumulative value, so duplicated or reordered
    deliveries cannot double count, and a refund that failed after succeeding is a negative increment."""
    ordered = sorted(history, key=lambda e: (e["created"], e["data"]["object"]["amount_refunded"]))
    increments, previous = [], 0
    for event in ordered:
        refunded = event["data"]["object"]["amount_refunded"]
        increments.append((event["created"], refunded - previous))
        previous = refunded
    return increments
