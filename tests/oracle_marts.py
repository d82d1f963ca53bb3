"""An independent oracle for the metrics marts built on payments_daily's foundations: every mart's expected rows
computed in plain Python from the Stripe event files (and, where a mart compares with the platform, the app's
rows), from the contracts given to the dbt engineer and docs/decisions.md, without reading or reusing the dbt SQL.

Every function is pure: events (+ rows) in, expected rows out, keyed by the mart's grain. Amounts are integers
in the currency's minor unit (`*_minor`); `major()` converts one for the `_amount` columns. Timestamps are
aware UTC datetimes, days are reporting-time-zone dates. The reused rules (event reading, latest charge
state, refund increments) are those of tests/oracle.py, so the two oracles cannot drift apart.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from oracle import (
    FIGURE_COLUMNS,
    Figures,
    _charge_recency,
    _events_by_object,
    _refund_increments,
    expected_payments_daily,
    read_events,
)

__all__ = [
    "EXPONENTS", "FAILURE_DIMENSIONS", "FINAL_DISPUTE_STATUSES", "RECONCILIATION_KINDS", "REFUND_COLUMNS",
    "FraudRule", "Reporting", "app_status_from_stripe", "dispute_metric_denominators", "expected_dispute_metrics",
    "expected_failure_analysis", "expected_fct_charges", "expected_fct_disputes", "expected_fct_payment_intents",
    "expected_fct_refunds", "expected_fraud_signals", "expected_payments_daily_extensions",
    "expected_reconciliation_exceptions", "expected_refund_names", "expected_revenue_trends",
    "expected_student_payment_summary", "expected_threshold_status", "expected_webhook_health", "latest_charges",
    "latest_disputes", "latest_intents", "major", "network_of", "planted_exceptions", "read_events",
    "reporting_days",
]

# -- money and days -------------------------------------------------------------------------------------------

_ZERO_DECIMAL = {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf",
                 "xof", "xpf"}
_THREE_DECIMAL = {"bhd", "jod", "kwd", "omr", "tnd"}
EXPONENTS = {c: 0 for c in _ZERO_DECIMAL} | {c: 3 for c in _THREE_DECIMAL}


def exponent(currency: str) -> int:
    return EXPONENTS.get(currency.lower(), 2)


def major(minor: int | None, currency: str) -> Decimal | None:
    """minor / 10^exponent, exactly (Stripe's exponents: jpy 0, kwd 3, most 2)."""
    return None if minor is None else Decimal(minor).scaleb(-exponent(currency))


def utc(timestamp: int | None) -> datetime | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, UTC)


@dataclass(frozen=True)
class Reporting:
    """The reporting time zone (decision 8): a day is the calendar date of a timestamp there."""

    timezone: str = "UTC"

    def day(self, timestamp: int) -> date:
        return datetime.fromtimestamp(timestamp, ZoneInfo(self.timezone)).date()


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def month_start(day: date) -> date:
    return day.replace(day=1)


def previous_month(first: date) -> date:
    return (first - timedelta(days=1)).replace(day=1)


# -- latest states (decision 9) -------------------------------------------------------------------------------

FINAL_DISPUTE_STATUSES = {"won", "lost", "prevented", "warning_closed"}
DISPUTE_STATUS_RANK = {"needs_response": 0, "warning_needs_response": 0, "under_review": 1,
                       "warning_under_review": 1, "won": 2, "lost": 2, "prevented": 2, "warning_closed": 2}
PAYMENT_INTENT_STATUS_RANK = {"requires_payment_method": 0, "requires_confirmation": 1, "requires_action": 2,
                              "processing": 3, "requires_capture": 4, "succeeded": 5, "canceled": 5}


def _dispute_recency(event: dict) -> tuple[Any, ...]:
    return (event["created"], DISPUTE_STATUS_RANK.get(event["data"]["object"]["status"], -1), event["id"])


def _intent_recency(event: dict) -> tuple[Any, ...]:
    return (event["created"], PAYMENT_INTENT_STATUS_RANK.get(event["data"]["object"]["status"], -1), event["id"])


def latest_charges(events: list[dict]) -> dict[str, dict]:
    """Charge id -> the charge object of its newest event (ties: status rank, captured, amount_refunded, id)."""
    return {cid: max(history, key=_charge_recency)["data"]["object"]
            for cid, history in _events_by_object(events, "charge").items()}


def latest_intents(events: list[dict]) -> dict[str, dict]:
    return {pid: max(history, key=_intent_recency)["data"]["object"]
            for pid, history in _events_by_object(events, "payment_intent").items()}


def latest_disputes(events: list[dict]) -> dict[str, tuple[dict, list[dict]]]:
    """Dispute id -> (latest dispute object, all its events)."""
    return {did: (max(history, key=_dispute_recency)["data"]["object"], history)
            for did, history in _events_by_object(events, "dispute").items()}


def _card(charge: dict) -> dict:
    return ((charge.get("payment_method_details") or {}).get("card")) or {}


def _metadata(obj: dict, name: str) -> str | None:
    return (obj.get("metadata") or {}).get(name)


def _succeeded_captured(charge: dict) -> bool:
    return charge["status"] == "succeeded" and bool(charge["captured"])


# -- fct_charges ----------------------------------------------------------------------------------------------

def expected_fct_charges(events: list[dict], timezone: str = "UTC") -> dict[str, dict]:
    """One row per charge id, every value from the charge's latest state."""
    tz = Reporting(timezone)
    disputed = {e["data"]["object"].get("charge") for e in events if e["data"]["object"].get("object") == "dispute"}
    rows = {}
    for cid, ch in latest_charges(events).items():
        currency = ch["currency"].lower()
        outcome, card = ch.get("outcome") or {}, _card(ch)
        rows[cid] = {
            "charge_id": cid,
            "payment_intent_id": ch.get("payment_intent"),
            "customer_id": ch.get("customer"),
            "student_id": _metadata(ch, "student_id"),
            "purchase_transaction_id": _metadata(ch, "purchase_transaction_id"),
            "created_at": utc(ch["created"]),
            "created_day": tz.day(ch["created"]),
            "currency": currency,
            "amount": major(ch["amount"], currency),
            "amount_minor": ch["amount"],
            "amount_captured_minor": ch["amount_captured"],
            "status": ch["status"],
            "captured": bool(ch["captured"]),
            "failure_code": ch.get("failure_code"),
            # Stripe's charge has no decline_code field: an issuer's decline code is the outcome's reason. A
            # Radar block's reason (highest_risk_level) is Stripe's own verdict, not a decline (decision 18).
            "decline_code": outcome.get("reason") if outcome.get("type") == "issuer_declined" else None,
            "outcome_type": outcome.get("type"),
            "risk_level": outcome.get("risk_level"),
            "risk_score": outcome.get("risk_score"),
            "card_brand": card.get("brand"),
            "card_country": card.get("country"),
            "card_fingerprint": card.get("fingerprint"),
            "amount_refunded": major(ch["amount_refunded"], currency),
            "amount_refunded_minor": ch["amount_refunded"],
            # Stripe sends no charge event when a dispute opens: a dispute naming the charge says it too.
            "disputed": bool(ch.get("disputed")) or cid in disputed,
            "livemode": ch["livemode"],
        }
    return rows


# -- fct_payment_intents --------------------------------------------------------------------------------------

def expected_fct_payment_intents(events: list[dict], timezone: str = "UTC") -> dict[str, dict]:
    """One row per payment intent: its latest status and the attempts (charges) made on it."""
    tz = Reporting(timezone)
    charges_of: dict[str, list[dict]] = defaultdict(list)
    for ch in latest_charges(events).values():
        if ch.get("payment_intent"):
            charges_of[ch["payment_intent"]].append(ch)
    rows = {}
    for pid, pi in latest_intents(events).items():
        attempts = charges_of.get(pid, [])
        failed = [c for c in attempts if c["status"] == "failed"]
        succeeded = [c for c in attempts if c["status"] == "succeeded"]
        first_failure = min((c["created"] for c in failed), default=None)
        first_success = min((c["created"] for c in succeeded), default=None)
        first_attempt = min((c["created"] for c in attempts), default=None)
        currency = pi["currency"].lower()
        rows[pid] = {
            "payment_intent_id": pid,
            "customer_id": pi.get("customer"),
            "student_id": _metadata(pi, "student_id"),
            "purchase_transaction_id": _metadata(pi, "purchase_transaction_id"),
            "created_at": utc(pi["created"]),
            "created_day": tz.day(pi["created"]),
            "currency": currency,
            "amount_minor": pi["amount"],
            "amount": major(pi["amount"], currency),
            "livemode": pi["livemode"],
            "charge_attempts": len(attempts),
            "failed_attempts": len(failed),
            "recovered": first_failure is not None and any(c["created"] > first_failure for c in succeeded),
            "final_status": pi["status"],
            # decisions.md §11: from the first attempt to the succeeded charge.
            "seconds_to_success": None if first_success is None else first_success - first_attempt,
            "first_attempt_at": utc(first_attempt),
            "succeeded_at": utc(first_success),
        }
    return rows


# -- fct_refunds ----------------------------------------------------------------------------------------------

def expected_fct_refunds(events: list[dict], timezone: str = "UTC") -> Counter:
    """A multiset of refund increments (charge_id, refunded_at, refunded_day, currency, amount_minor, livemode):
    the non-zero changes of a captured charge's cumulative amount_refunded over its events ordered by (created,
    amount_refunded), dated on the event; negative when a refund failed after succeeding (decision 3)."""
    tz = Reporting(timezone)
    rows: Counter = Counter()
    for cid, history in _events_by_object(events, "charge").items():
        ch = max(history, key=_charge_recency)["data"]["object"]
        if not ch["captured"]:  # a released authorization's amount_refunded moved no money (decision 2)
            continue
        for created, increment in _refund_increments(history):
            if increment:
                rows[(cid, utc(created), tz.day(created), ch["currency"].lower(), increment, ch["livemode"])] += 1
    return rows


REFUND_COLUMNS = ("charge_id", "refunded_at", "refunded_day", "currency", "amount_minor", "livemode")


def expected_refund_names(events: list[dict], timezone: str = "UTC") -> Counter:
    """Decision 12's naming of increments by refund objects: per charge, the n-th positive increment of an
    amount is the n-th refund (by created, then id) of that amount; the n-th negative increment of −amount is
    the n-th failed refund of that amount; the rest are unnamed (None). A multiset of (charge_id, refunded_at,
    amount_minor, refund_id, refund status, refund reason)."""
    refunds: dict[str, dict] = {}
    for rid, history in _events_by_object(events, "refund").items():
        refunds[rid] = max(history, key=lambda e: (e["created"], _REFUND_STATUS_RANK.get(
            e["data"]["object"]["status"], -1), e["id"]))["data"]["object"]
    of_charge: dict[str, list[dict]] = defaultdict(list)
    for r in refunds.values():
        of_charge[r["charge"]].append(r)
    named: Counter = Counter()
    increments = sorted(expected_fct_refunds(events, timezone).elements(), key=lambda k: (k[0], k[1]))
    taken: dict[tuple[str, int, bool], int] = Counter()
    for cid, refunded_at, _, _, amount, _ in increments:
        negative = amount < 0
        candidates = sorted((r for r in of_charge.get(cid, []) if r["amount"] == abs(amount)
                             and (not negative or r["status"] == "failed")), key=lambda r: (r["created"], r["id"]))
        n = taken[(cid, abs(amount), negative)]
        taken[(cid, abs(amount), negative)] += 1
        r = candidates[n] if n < len(candidates) else None
        named[(cid, refunded_at, amount, r and r["id"], r and r["status"], r and r.get("reason"))] += 1
    return named


_REFUND_STATUS_RANK = {"pending": 0, "requires_action": 1, "succeeded": 2, "failed": 3, "canceled": 3}


# -- fct_disputes ---------------------------------------------------------------------------------------------

def _dispute_transactions(history: list[dict]) -> dict[str, dict]:
    """Every balance transaction the dispute's events carried, once per txn id (later events repeat them)."""
    txns: dict[str, dict] = {}
    for event in sorted(history, key=lambda e: (e["created"], e["id"])):
        for txn in event["data"]["object"].get("balance_transactions") or []:
            txns.setdefault(txn["id"], txn)
    return txns


def _is_withdrawal(txn: dict) -> bool:
    return txn.get("reporting_category") == "dispute" or txn.get("type") == "dispute"


def _is_reinstatement(txn: dict) -> bool:
    return txn.get("reporting_category") == "dispute_reversal" or txn.get("type") == "dispute_reversal"


def expected_fct_disputes(events: list[dict], timezone: str = "UTC") -> dict[str, dict]:
    tz = Reporting(timezone)
    charges = latest_charges(events)
    rows = {}
    for did, (dp, history) in latest_disputes(events).items():
        currency = dp["currency"].lower()
        final_events = [e["created"] for e in history if e["data"]["object"]["status"] in FINAL_DISPUTE_STATUSES]
        closed = min(final_events) if dp["status"] in FINAL_DISPUTE_STATUSES else None
        txns = _dispute_transactions(history).values()
        charge = charges.get(dp.get("charge"), {})
        brand = ((dp.get("payment_method_details") or {}).get("card") or {}).get("brand") or _card(charge).get("brand")
        rows[did] = {
            "dispute_id": did,
            "charge_id": dp.get("charge"),
            "payment_intent_id": dp.get("payment_intent"),
            "currency": currency,
            "livemode": dp["livemode"],
            "created_at": utc(dp["created"]),
            "created_day": tz.day(dp["created"]),
            "reason": dp.get("reason"),
            "status": dp["status"],
            "amount_minor": dp["amount"],
            "amount": major(dp["amount"], currency),
            "closed_at": utc(closed),
            "closed_day": None if closed is None else tz.day(closed),
            # decision 13: the final status, or 'open'
            "outcome": dp["status"] if dp["status"] in FINAL_DISPUTE_STATUSES else "open",
            # decision 18: money taken, as a positive amount (Stripe's balance transaction is negative)
            "withdrawn_minor": -sum(t["amount"] for t in txns if _is_withdrawal(t)),
            "reinstated_minor": sum(t["amount"] for t in txns if _is_reinstatement(t)),
            "fee_minor": sum(t["fee"] for t in txns),
            "balance_currency": min((t["currency"].lower() for t in txns), default=None),
            "is_inquiry": dp["status"].startswith("warning_"),
            "card_brand": brand,
            "network": brand,  # fct_disputes.network is the card network as Stripe names it
            "evidence_due_by": utc((dp.get("evidence_details") or {}).get("due_by")),
            "customer_id": charge.get("customer"),
        }
    return rows


# -- payments_daily, extended ---------------------------------------------------------------------------------

Key = tuple[date, str, bool]


def reporting_days(events: list[dict], timezone: str = "UTC") -> dict[tuple[str, bool], list[date]]:
    """Decision 10's dense calendar: for each (currency, livemode) series, every day from its first activity
    day to the last reporting day (the day of the newest event of any type or mode)."""
    tz = Reporting(timezone)
    last = tz.day(max(e["created"] for e in events))
    first: dict[tuple[str, bool], date] = {}
    for day, currency, livemode in expected_payments_daily(events, timezone):
        first[(currency, livemode)] = min(day, first.get((currency, livemode), day))
    return {series: [start + timedelta(days=n) for n in range((last - start).days + 1)]
            for series, start in first.items()}


def _median(values: list[int]) -> Fraction | None:
    """percentile_cont(0.5): the middle value, or the mean of the two middle ones."""
    return None if not values else Fraction(statistics.median_low(values) + statistics.median_high(values), 2)


def expected_payments_daily_extensions(events: list[dict], timezone: str = "UTC") -> dict[Key, dict]:
    """Per (day, currency, livemode) with something to say: the intent success rate of PIs created that day,
    avg/median amount_captured of that day's succeeded captured charges, and the amount of disputes still open
    at the end of that day (created on or before it, not closed by then), as exact Fractions."""
    tz = Reporting(timezone)
    rows: dict[Key, dict] = defaultdict(dict)

    intents: dict[Key, list[bool]] = defaultdict(list)
    for pi in latest_intents(events).values():
        intents[(tz.day(pi["created"]), pi["currency"].lower(), pi["livemode"])].append(pi["status"] == "succeeded")
    for key, ended in intents.items():
        rows[key]["payment_intents"] = len(ended)
        rows[key]["payment_intents_succeeded"] = sum(ended)
        rows[key]["intent_success_rate"] = Fraction(sum(ended), len(ended))

    values: dict[Key, list[int]] = defaultdict(list)
    for ch in latest_charges(events).values():
        if _succeeded_captured(ch):
            values[(tz.day(ch["created"]), ch["currency"].lower(), ch["livemode"])].append(ch["amount_captured"])
    for key, amounts in values.items():
        rows[key]["avg_transaction_value_minor"] = Fraction(sum(amounts), len(amounts))
        # decision 18: the lower middle value (percentile_disc), an amount some charge really had
        rows[key]["median_transaction_value_minor"] = statistics.median_low(amounts) if amounts else None

    disputes = expected_fct_disputes(events, timezone)
    days = reporting_days(events, timezone)
    calendar = {(day, *series) for series, ds in days.items() for day in ds}
    # decision 11: the intent rate appears on the series' days; an intent alone starts no series.
    for key in [k for k in rows if k not in calendar]:
        del rows[key]
    for dp in disputes.values():
        series = (dp["currency"], dp["livemode"])
        for day in days.get(series, []):
            if dp["created_day"] <= day and (dp["closed_day"] is None or dp["closed_day"] > day):
                row = rows[(day, *series)]
                row["open_dispute_exposure_minor"] = row.get("open_dispute_exposure_minor", 0) + dp["amount_minor"]
    return dict(rows)


# -- revenue_trends -------------------------------------------------------------------------------------------

def expected_revenue_trends(events: list[dict], timezone: str = "UTC") -> dict[tuple[str, date, str, bool], dict]:
    """(period_type, period_start, currency, livemode) -> sums of the payments_daily figures over the period's
    days in the dense calendar, and net_growth_rate = (net − previous net) / |previous net| (None without a
    previous period of that series or when its net is 0); gross_growth_rate likewise."""
    daily = expected_payments_daily(events, timezone)
    rows: dict[tuple[str, date, str, bool], dict] = {}
    for (currency, livemode), days in reporting_days(events, timezone).items():
        for period_type, truncate in (("week", week_start), ("month", month_start)):
            for day in days:
                key = (period_type, truncate(day), currency, livemode)
                row = rows.setdefault(key, dict.fromkeys(FIGURE_COLUMNS, 0))
                figures = daily.get((day, currency, livemode), Figures())
                for column in FIGURE_COLUMNS:
                    row[column] += getattr(figures, column)
    for (period_type, start, currency, livemode), row in rows.items():
        previous = start - timedelta(days=7) if period_type == "week" else previous_month(start)
        before = rows.get((period_type, previous, currency, livemode))
        for name in ("net", "gross"):
            prev = None if before is None else before[f"{name}_amount_minor"]
            row[f"prev_{name}_amount_minor"] = prev
            # decision 18: the change over the size of the previous period, so a rise from a loss is positive
            row[f"{name}_growth_rate"] = (None if not prev
                                          else Fraction(row[f"{name}_amount_minor"] - prev, abs(prev)))
    return rows


# -- failure_analysis -----------------------------------------------------------------------------------------

FAILURE_DIMENSIONS = ("failure_code", "decline_code", "card_brand", "card_country")


def expected_failure_analysis(events: list[dict], timezone: str = "UTC") -> dict[tuple, dict]:
    """(day, currency, livemode, dimension, value) -> failed_attempts (charges whose latest status is failed,
    on their created day), failures_total (all failed charges of that day, currency and mode) and share."""
    charges = [c for c in expected_fct_charges(events, timezone).values() if c["status"] == "failed"]
    totals = Counter((c["created_day"], c["currency"], c["livemode"]) for c in charges)
    counts: Counter = Counter()
    for c in charges:
        for dimension in FAILURE_DIMENSIONS:
            counts[(c["created_day"], c["currency"], c["livemode"], dimension, c[dimension])] += 1
    return {key: {"failed_attempts": n, "failures_total": totals[key[:3]],
                  "share": Fraction(n, totals[key[:3]])} for key, n in counts.items()}


# -- dispute_metrics ------------------------------------------------------------------------------------------

def network_of(brand: str | None) -> str:
    return brand if brand in ("visa", "mastercard") else "other"


def expected_dispute_metrics(events: list[dict], timezone: str = "UTC") -> dict[tuple[date, str, bool], dict]:
    """(month, network, livemode) -> disputes opened that month (dispute created, reporting zone; inquiries
    excluded, decision 13), inquiries opened, open_disputes (inquiries included) still open at the end of the
    month (or of the last reporting day: created on or before it, not closed on or before it), the same month's
    and the prior month's settled sales of that network (succeeded captured charges by created month, decision
    14), visa_ratio = disputes / same-month sales and mastercard_ratio = disputes / prior-month sales (None when
    the denominator is 0). Every month from the first charge or dispute to the last reporting day, for every
    network and mode seen, where any of these figures is non-zero."""
    tz = Reporting(timezone)
    last = tz.day(max(e["created"] for e in events))
    sales = dispute_metric_denominators(events, timezone)
    all_disputes = list(expected_fct_disputes(events, timezone).values())

    def key(d: dict) -> tuple[date, str, bool]:
        return (month_start(d["created_day"]), network_of(d["card_brand"]), d["livemode"])

    disputes = Counter(key(d) for d in all_disputes if not d["is_inquiry"])
    inquiries = Counter(key(d) for d in all_disputes if d["is_inquiry"])
    series = {k[1:] for k in (*sales, *disputes, *inquiries)}
    months = [k[0] for k in (*sales, *disputes, *inquiries)]
    rows = {}
    month = min(months, default=last)
    while month <= last:
        next_month = (month + timedelta(days=32)).replace(day=1)
        end = min(next_month - timedelta(days=1), last)
        for network, livemode in series:
            k = (month, network, livemode)
            n, same = disputes[k], sales[k]
            prior = sales[(previous_month(month), network, livemode)]
            still_open = sum(1 for d in all_disputes if key(d)[1:] == (network, livemode) and d["created_day"] <= end
                             and (d["closed_day"] is None or d["closed_day"] > end))
            row = {"disputes": n, "inquiries": inquiries[k], "open_disputes": still_open, "card_sales_same_month": same,
                   "card_transactions_prior_month": prior,
                   "visa_ratio": Fraction(n, same) if same else None,
                   "mastercard_ratio": Fraction(n, prior) if prior else None}
            if n or inquiries[k] or still_open or same or prior:
                rows[k] = row
        month = next_month
    return rows


def dispute_metric_denominators(events: list[dict], timezone: str = "UTC") -> Counter:
    """(month, network, livemode) -> settled card sales: succeeded, captured charges created that month."""
    return Counter((month_start(c["created_day"]), network_of(c["card_brand"]), c["livemode"])
                   for c in expected_fct_charges(events, timezone).values()
                   if c["status"] == "succeeded" and c["captured"])


# -- webhook_health -------------------------------------------------------------------------------------------

WEBHOOK_STATUSES = ("processed", "failed", "retrying")


def expected_webhook_health(log_rows: Iterable[Mapping[str, Any]]) -> dict[datetime, dict]:
    """Rows of ops.webhook_event_log (received_at, status) -> per hour of received_at (an aware UTC datetime,
    truncated to the hour): received = every event received in that hour, and how many of them are now
    processed, failed and retrying."""
    rows: dict[datetime, dict] = {}
    for r in log_rows:
        hour = r["received_at"].astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        row = rows.setdefault(hour, {"received": 0} | dict.fromkeys(WEBHOOK_STATUSES, 0))
        row["received"] += 1
        if r["status"] in WEBHOOK_STATUSES:
            row[r["status"]] += 1
    return rows


# -- student_payment_summary ----------------------------------------------------------------------------------

def expected_student_payment_summary(events: list[dict], timezone: str = "UTC") -> dict[tuple[str, str, bool], dict]:
    """(student_id from the charge's metadata, currency, livemode) -> lifetime gross (amount_captured of
    succeeded captured charges), refunds (their refund increments), dispute losses (amount of the disputes on
    the student's charges whose latest status is lost), net = gross − refunds − dispute losses (decision 5's
    net), failed attempts, disputes (inquiries included) on the student's charges, and the created time of the
    newest succeeded captured charge."""
    charges = expected_fct_charges(events, timezone)
    rows: dict[tuple[str, str, bool], dict] = {}

    def row_of(charge: dict) -> dict:
        key = (charge["student_id"], charge["currency"], charge["livemode"])
        return rows.setdefault(key, {"gross_amount_minor": 0, "refunded_amount_minor": 0,
                                     "dispute_loss_amount_minor": 0, "failed_attempts": 0, "disputes": 0,
                                     "last_payment_at": None})

    for c in charges.values():
        row = row_of(c)
        if c["status"] == "succeeded" and c["captured"]:
            row["gross_amount_minor"] += c["amount_captured_minor"]
            row["last_payment_at"] = max(filter(None, (row["last_payment_at"], c["created_at"])))
        row["failed_attempts"] += c["status"] == "failed"
    for (cid, _, _, _, amount, _), n in expected_fct_refunds(events, timezone).items():
        row_of(charges[cid])["refunded_amount_minor"] += amount * n
    for dp in expected_fct_disputes(events, timezone).values():
        if dp["charge_id"] in charges:
            row = row_of(charges[dp["charge_id"]])
            row["disputes"] += 1
            if dp["status"] == "lost":
                row["dispute_loss_amount_minor"] += dp["amount_minor"]
    for row in rows.values():
        row["net_amount_minor"] = (row["gross_amount_minor"] - row["refunded_amount_minor"]
                                   - row["dispute_loss_amount_minor"])
    return rows


# -- reconciliation_exceptions --------------------------------------------------------------------------------

RECONCILIATION_KINDS = {"completed_but_failed": "status_mismatch", "charge_without_purchase": "missing_in_app",
                        "amount_mismatch": "amount_mismatch"}


IN_FLIGHT = {"pending", "processing"}
RECONCILIATION_GRACE = timedelta(hours=24)


def app_status_from_stripe(intent: dict | None, charge: dict | None) -> str:
    """The app payment_status Stripe's latest state implies (decision 15): 'in_flight' stands for an app status of
    pending or processing."""
    canceled = intent is not None and intent["status"] == "canceled"
    if charge is not None and charge["status"] == "succeeded" and charge["captured"]:
        return "refunded" if charge["amount_refunded"] >= charge["amount_captured"] > 0 else "completed"
    if charge is not None and charge["status"] == "failed":
        return "cancelled" if canceled else "failed"
    if canceled:  # e.g. an authorization never captured, released
        return "cancelled"
    if charge is not None and not charge["captured"] and charge["amount_refunded"] >= charge["amount"] > 0:
        return "cancelled"  # a released authorization whose intent event we lack
    return "in_flight"


def expected_reconciliation_exceptions(events: list[dict], purchases: Iterable[Mapping[str, Any]]) -> set[tuple]:
    """Our own comparison of the app's purchases with Stripe's charges, as a set of (exception_type,
    purchase_transaction_id or None, charge_id or None). A purchase is compared with one charge: its
    stripe_charge_id, else its intent's latest_charge, else the newest charge whose metadata names it.

    * missing_in_app: a charge whose purchase (metadata purchase_transaction_id, else the purchase naming the
      charge) is not in the app;
    * missing_in_stripe: a purchase whose stripe_charge_id or stripe_payment_intent_id Stripe never sent, or a
      completed/refunded/failed one with no charge at all;
    * currency_mismatch / amount_mismatch: other currency, or amount (major) × 10^exponent ≠ the charge's amount;
    * status_mismatch: payment_status ≠ what Stripe's latest state implies (app_status_from_stripe; in flight =
      pending or processing), unless one side is in flight and the purchase is younger than 24 h before the
      newest Stripe event."""
    charges, intents = latest_charges(events), latest_intents(events)
    now = utc(max(e["created"] for e in events))
    purchases = list(purchases)
    by_id = {int(p["id"]): p for p in purchases}
    claimed_by = {p["stripe_charge_id"]: int(p["id"]) for p in purchases if p.get("stripe_charge_id")}
    named: dict[int, list[dict]] = defaultdict(list)
    found: set[tuple] = set()
    for cid, ch in charges.items():
        pid = _metadata(ch, "purchase_transaction_id")
        resolved = int(pid) if pid is not None else claimed_by.get(cid)
        if resolved is not None:
            named[resolved].append(ch)
        if resolved is None or resolved not in by_id:
            found.add(("missing_in_app", resolved, cid))
    for pid, p in by_id.items():
        cid, piid = p.get("stripe_charge_id"), p.get("stripe_payment_intent_id")
        intent = intents.get(piid) if piid else None
        if (cid and cid not in charges) or (piid and intent is None):
            found.add(("missing_in_stripe", pid, cid))
            continue
        ch = charges.get(cid) if cid else None
        if ch is None and intent is not None and intent.get("latest_charge") in charges:
            ch = charges[intent["latest_charge"]]
        if ch is None and named.get(pid):
            ch = max(named[pid], key=lambda c: (c["created"], c["id"]))
        if ch is None and intent is None and p["payment_status"] in ("completed", "refunded", "failed"):
            found.add(("missing_in_stripe", pid, None))
            continue
        charge_id = None if ch is None else ch["id"]
        if ch is not None:
            currency = p["currency"].lower()
            if currency != ch["currency"].lower():
                found.add(("currency_mismatch", pid, charge_id))
            elif Decimal(p["amount"]).scaleb(exponent(currency)) != ch["amount"]:
                found.add(("amount_mismatch", pid, charge_id))
        stripe_says, app_says = app_status_from_stripe(intent, ch), p["payment_status"]
        in_flight = stripe_says == "in_flight" or app_says in IN_FLIGHT
        same = app_says in IN_FLIGHT if stripe_says == "in_flight" else app_says == stripe_says
        young = p.get("created_at") is not None and p["created_at"] > now - RECONCILIATION_GRACE
        if not same and not (in_flight and young):
            found.add(("status_mismatch", pid, charge_id))
    return found


def planted_exceptions(disagreements: Iterable[Any]) -> set[tuple]:
    """demo.generate.Disagreement(kind, purchase_id, charge_id) -> the exception rows they must produce."""
    return {(RECONCILIATION_KINDS[d.kind], d.purchase_id, d.charge_id) for d in disagreements}


# -- fraud_signals --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FraudRule:
    """A row of the fraud_rule_thresholds seed."""

    rule_name: str
    weight: int
    threshold: Decimal | None = None
    window_minutes: int | None = None
    amount_cap_major: Decimal | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> FraudRule:
        def dec(v: Any) -> Decimal | None:
            return None if v is None or v == "" else Decimal(str(v))
        window = row.get("window_minutes")
        return cls(row["rule_name"], int(row["weight"]), dec(row.get("threshold")),
                   None if window in (None, "") else int(window), dec(row.get("amount_cap_major")))


RISK_SCORE_CAP = 100


def expected_fraud_signals(events: list[dict], rules: Iterable[FraudRule], timezone: str = "UTC") -> dict[str, dict]:
    """Charge id -> {rules_fired: set of rule names, risk_score: min(100, sum of their weights)}, every rule as
    the seed describes it, over the charge's customer's charges (latest states) up to and including the charge:

    * card_testing: >= threshold failed attempts of at most amount_cap_major within window_minutes up to the charge;
    * many_cards: >= threshold distinct card fingerprints within window_minutes up to the charge;
    * failure_velocity: >= threshold failed attempts within window_minutes up to the charge;
    * amount_outlier: amount > threshold x median of the customer's earlier (created before) succeeded charges in
      the same currency and mode (no history: never fires);
    * radar_risk: outcome.risk_level elevated or highest;
    * prior_disputes: >= threshold disputes (inquiries included) created on the customer's charges before it.
    A window ending "at the charge" includes the charge itself and charges of the same second."""
    rules = {r.rule_name: r for r in rules}
    charges = expected_fct_charges(events, timezone)
    by_customer: dict[str, list[dict]] = defaultdict(list)
    for c in charges.values():
        by_customer[c["customer_id"]].append(c)
    dispute_times: dict[str, list[datetime]] = defaultdict(list)
    for dp in expected_fct_disputes(events, timezone).values():
        if dp["charge_id"] in charges:
            dispute_times[charges[dp["charge_id"]]["customer_id"]].append(dp["created_at"])

    def in_window(c: dict, other: dict, rule: FraudRule) -> bool:
        if other["created_at"] > c["created_at"]:
            return False
        return rule.window_minutes is None or other["created_at"] >= c["created_at"] - timedelta(
            minutes=rule.window_minutes)

    result = {}
    for cid, c in charges.items():
        history = by_customer[c["customer_id"]]
        fired = set()
        if (rule := rules.get("card_testing")) is not None:
            small = [o for o in history if in_window(c, o, rule) and o["status"] == "failed"
                     and (rule.amount_cap_major is None or o["amount"] <= rule.amount_cap_major)]
            if len(small) >= rule.threshold:
                fired.add("card_testing")
        if (rule := rules.get("many_cards")) is not None:
            cards = {o["card_fingerprint"] for o in history if in_window(c, o, rule) and o["card_fingerprint"]}
            if len(cards) >= rule.threshold:
                fired.add("many_cards")
        if (rule := rules.get("failure_velocity")) is not None and sum(
            1 for o in history if in_window(c, o, rule) and o["status"] == "failed"
        ) >= rule.threshold:
            fired.add("failure_velocity")
        if (rule := rules.get("amount_outlier")) is not None:
            earlier = [o["amount_minor"] for o in history if o["created_at"] < c["created_at"]
                       and o["status"] == "succeeded" and o["currency"] == c["currency"]
                       and o["livemode"] == c["livemode"]]
            if earlier and c["amount_minor"] > Fraction(rule.threshold) * _median(earlier):
                fired.add("amount_outlier")
        if "radar_risk" in rules and c["risk_level"] in ("elevated", "highest"):
            fired.add("radar_risk")
        if (rule := rules.get("prior_disputes")) is not None:
            prior = sum(1 for t in dispute_times.get(c["customer_id"], []) if t < c["created_at"])
            if prior >= (rule.threshold if rule.threshold is not None else 1):
                fired.add("prior_disputes")
        result[cid] = {"rules_fired": fired,
                       "risk_score": min(RISK_SCORE_CAP, sum(rules[name].weight for name in fired))}
    return result


def expected_threshold_status(network: str, month: date, disputes: int, ratio: Fraction | None,
                              thresholds: Iterable[Mapping[str, Any]], region: str = "eu") -> str:
    """decisions.md §14 / the network_thresholds seed: per (network, level) the row with the latest valid_from on
    or before the month whose regions include `region` ('all' matches any); the status is the level of highest
    severity whose count (min_count..max_count) and ratio (>= ratio_threshold) conditions hold, else 'ok'.
    `ratio` is the network's own ratio (visa: visa_ratio, mastercard: mastercard_ratio)."""
    in_force: dict[str, Mapping[str, Any]] = {}
    for row in thresholds:
        regions = str(row["regions"]).split("|")
        if row["network"] != network or row["valid_from"] > month or not ("all" in regions or region in regions):
            continue
        current = in_force.get(row["level"])
        if current is None or row["valid_from"] > current["valid_from"]:
            in_force[row["level"]] = row
    met = [row for row in in_force.values()
           if disputes >= (row["min_count"] or 0) and (row["max_count"] is None or disputes <= row["max_count"])
           and ratio is not None and ratio >= Fraction(str(row["ratio_threshold"]))]
    return max(met, key=lambda r: r["severity"])["level"] if met else "ok"
