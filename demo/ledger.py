"""The platform's Stripe balance: a balance transaction for every movement of live money, and automatic payouts.

The account settles in one currency (usd). A charge, refund or dispute in another currency is converted at that
day's rate, carried as `exchange_rate` (settlement major units per presentment major unit, as Stripe gives it).
Fees follow a FeeSchedule the generator is given: its defaults are round, illustrative numbers, not Stripe's
prices, which depend on the country, the card and the contract.

Funds from charges become available `available_after_days` after the charge's UTC day; debits (refunds,
dispute withdrawals, fees) count at once. Every day an automatic payout sends what is available to the bank and
arrives `arrival_days` later; one payout, half way through the window, fails: its funds come back as a
`payout_failure` transaction, which the next payout carries.

Stripe keeps no test-mode money in a live balance, so only live objects enter the ledger (test-mode disputes
still embed their transactions, built by the same code).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import orjson

from demo import stripe_objects as so
from demo.ids import NO_REQUEST, StripeIds
from demo.money import to_major
from demo.people import DAY

SETTLEMENT_CURRENCY = "usd"
ACCOUNT_COUNTRY = "US"
HOUR = 3_600
# Settlement (usd) major units per presentment major unit, a plausible level; each day drifts around it.
BASE_RATES = {"eur": Decimal("1.08"), "gbp": Decimal("1.27"), "brl": Decimal("0.18"), "jpy": Decimal("0.0067"),
              "kwd": Decimal("3.25")}
DAILY_DRIFT = (Decimal("0"), Decimal("0.004"), Decimal("0.007"), Decimal("0.003"), Decimal("-0.002"),
               Decimal("-0.006"), Decimal("-0.003"))
"""A week's wave of relative moves, so refunds and reinstatements meet a rate other than their charge's."""
PAYOUT_FAILURE = ("account_closed", "The bank account has been closed.")
Emit = Callable[[int, str, so.Obj, "so.Obj | None"], None]
"""emit(t, event type, payout, previous attributes) delivers one payout event"""


@dataclass(frozen=True)
class FeeSchedule:
    """What the demo's Stripe keeps. Illustrative defaults, not Stripe's current prices."""

    percent: Decimal = Decimal("2.9")
    fixed_minor: int = 30
    """per successful charge, in the settlement currency's minor units"""
    international_card_percent: Decimal = Decimal("1.5")
    """added when the card was issued outside the account's country"""
    conversion_percent: Decimal = Decimal("1")
    """added when the charge's currency is not the settlement currency"""
    dispute_fee_minor: int = 1500
    available_after_days: int = 2
    payout_arrival_days: int = 2


def exchange_rate(currency: str, day: int) -> Decimal | None:
    """Settlement units per unit of `currency` on UTC day number `day`; None for the settlement currency."""
    if currency == SETTLEMENT_CURRENCY:
        return None
    rate = BASE_RATES[currency] * (1 + DAILY_DRIFT[day % len(DAILY_DRIFT)])
    return rate.quantize(Decimal("0.000001") if rate < 1 else Decimal("0.0001"), ROUND_HALF_UP)


def settled(amount: int, currency: str, t: int) -> tuple[int, Decimal | None]:
    """`amount` minor units of `currency` at time t, in settlement minor units, and the rate used."""
    rate = exchange_rate(currency, t // DAY)
    if rate is None:
        return amount, None
    cents = (to_major(amount, currency) * rate * 100).quantize(Decimal(1), ROUND_HALF_UP)
    return int(cents), rate


def _day_start(t: int) -> int:
    return t // DAY * DAY


@dataclass
class Ledger:
    ids: StripeIds
    fees: FeeSchedule
    end: int
    transactions: list[so.Obj] = field(default_factory=list)
    """live balance transactions, in the order they happened per purchase (sorted when written)"""
    itemized: dict[str, list[str]] = field(default_factory=dict)
    """ended payout id -> the transaction ids it carried"""
    _refunded: dict[str, tuple[int, Decimal | None]] = field(default_factory=dict)
    """refund transaction id -> (settlement amount, rate), for a failure to return exactly that"""

    def _record(self, txn: so.Obj) -> so.Obj:
        txn["status"] = "available" if txn["available_on"] <= self.end else "pending"
        self.transactions.append(txn)
        return txn

    def charge(self, ch: so.Obj, t: int) -> None:
        amount, rate = settled(ch["amount_captured"], ch["currency"], t)
        card_country = ch["payment_method_details"]["card"]["country"]
        percent = self.fees.percent
        if card_country != ACCOUNT_COUNTRY:
            percent += self.fees.international_card_percent
        if rate is not None:
            percent += self.fees.conversion_percent
        fee = int((amount * percent / 100).quantize(Decimal(1), ROUND_HALF_UP)) + self.fees.fixed_minor
        available_on = _day_start(t) + self.fees.available_after_days * DAY
        self._record(_transaction(ch["balance_transaction"], t, amount, fee, rate, available_on, type_="charge",
                                  category="charge", source=ch["id"], description=ch["description"]))

    def refund(self, refund: so.Obj, t: int) -> None:
        amount, rate = settled(refund["amount"], refund["currency"], t)
        self._refunded[refund["balance_transaction"]] = (amount, rate)
        self._record(_transaction(refund["balance_transaction"], t, -amount, 0, rate, t, type_="refund",
                                  category="refund", source=refund["id"], description="REFUND FOR CHARGE"))

    def refund_failure(self, refund: so.Obj, t: int) -> None:
        """The failed refund's money comes back: exactly what its refund transaction took."""
        amount, rate = self._refunded[refund["balance_transaction"]]
        self._record(_transaction(refund["failure_balance_transaction"], t, amount, 0, rate, t,
                                  type_="refund_failure", category="refund_failure",
                                  source=refund["id"], description="REFUND FAILURE"))

    def dispute(self, dispute: so.Obj, t: int, *, reinstated: bool, live: bool) -> so.Obj:
        """Funds withdrawn (−amount and the dispute fee) or, when won, reinstated (+amount; the fee stays)."""
        amount, rate = settled(dispute["amount"], dispute["currency"], t)
        amount = amount if reinstated else -amount
        txn = _transaction(
            self.ids.new("txn"), t, amount, 0 if reinstated else self.fees.dispute_fee_minor, rate, t,
            type_="adjustment", category="dispute_reversal" if reinstated else "dispute", source=dispute["id"],
            description=f"Chargeback {'reversal' if reinstated else 'withdrawal'} for {dispute['charge']}",
            fee_description="Dispute fee")
        return self._record(txn) if live else txn

    def run_payouts(self, emit: Emit, first_day: int, days: int) -> None:
        """Daily automatic payouts of the available balance over the window (UTC day numbers), with their
        events. The first payout from half way through fails and returns its funds."""
        unpaid = sorted(self.transactions, key=lambda txn: (txn["available_on"], txn["created"], txn["id"]))
        failing_day = first_day + days // 2
        failed_already = False
        for day in range(first_day + 1, first_day + days):
            created = day * DAY + 2 * HOUR
            carried = [txn for txn in unpaid if txn["available_on"] <= created and txn["created"] <= created]
            amount = sum(txn["net"] for txn in carried)
            if amount <= 0 or created > self.end:
                continue  # Stripe pays nothing out of an empty or negative balance
            carried_ids = {txn["id"] for txn in carried}
            unpaid = [txn for txn in unpaid if txn["id"] not in carried_ids]
            fails = day >= failing_day and not failed_already
            failed_already |= fails
            returned = self._payout(emit, created, amount, carried, fails=fails)
            if returned is not None:
                unpaid.append(returned)

    def _payout(self, emit: Emit, created: int, amount: int, carried: list[so.Obj], *, fails: bool) -> so.Obj | None:
        payout_id = self.ids.new("po")
        arrival = _day_start(created) + self.fees.payout_arrival_days * DAY
        own = self._record(_transaction(self.ids.new("txn"), created, -amount, 0, None, created, type_="payout",
                                        category="payout", source=payout_id, description="STRIPE PAYOUT"))
        payout = _payout_object(payout_id, own["id"], created, amount, arrival)
        emit(created, "payout.created", payout, None)
        in_transit = created + 6 * HOUR
        if in_transit > self.end:
            return None
        payout["status"] = "in_transit"
        emit(in_transit, "payout.updated", payout, {"status": "pending"})
        settled_at = arrival + 9 * HOUR
        if settled_at > self.end:
            return None
        self.itemized[payout_id] = [txn["id"] for txn in carried]
        if not fails:
            payout["status"] = "paid"
            emit(settled_at, "payout.paid", payout, {"status": "in_transit"})
            if settled_at + 2 * HOUR <= self.end:
                payout["reconciliation_status"] = "completed"
                emit(settled_at + 2 * HOUR, "payout.reconciliation_completed", payout,
                     {"reconciliation_status": "in_progress"})
            return None
        returned = self._record(_transaction(
            self.ids.new("txn"), settled_at, amount, 0, None, settled_at, type_="payout_failure",
            category="payout_reversal", source=payout_id, description="STRIPE PAYOUT FAILURE"))
        code, message = PAYOUT_FAILURE
        payout.update(status="failed", failure_code=code, failure_message=message,
                      failure_balance_transaction=returned["id"], reconciliation_status="not_applicable")
        emit(settled_at, "payout.failed", payout, {"status": "in_transit", "failure_code": None})
        return returned

    def write(self, folder: Path) -> None:
        """The balance as Stripe's API would list it at the window's end (ingest/stripe_balance.py's files)."""
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / "balance_transactions.jsonl").open("wb") as out:
            for txn in sorted(self.transactions, key=lambda txn: (txn["created"], txn["id"])):
                out.write(orjson.dumps(txn) + b"\n")
        with (folder / "payout_balance_transactions.jsonl").open("wb") as out:
            for payout_id, transaction_ids in self.itemized.items():
                for transaction_id in transaction_ids:
                    out.write(orjson.dumps({"payout": payout_id, "balance_transaction": transaction_id}) + b"\n")


def _transaction(
    txn_id: str, created: int, amount: int, fee: int, rate: Decimal | None, available_on: int, *, type_: str,
    category: str, source: str, description: str, fee_description: str = "Stripe processing fees",
) -> so.Obj:
    fee_details = [{"amount": fee, "application": None, "currency": SETTLEMENT_CURRENCY,
                    "description": fee_description, "type": "stripe_fee"}] if fee else []
    return so.BALANCE_TRANSACTION.new(
        id=txn_id, amount=amount, available_on=available_on, created=created, currency=SETTLEMENT_CURRENCY,
        description=description, exchange_rate=float(rate) if rate is not None else None, fee=fee,
        fee_details=fee_details, net=amount - fee, reporting_category=category, source=source,
        status="pending", type=type_,
    )


def _payout_object(payout_id: str, txn_id: str, created: int, amount: int, arrival: int) -> so.Obj:
    # Stripe's Payout object (API reference; stripe_fixtures holds no payout).
    return {
        "id": payout_id, "object": "payout", "amount": amount, "application_fee": None,
        "application_fee_amount": None, "arrival_date": arrival, "automatic": True, "balance_transaction": txn_id,
        "created": created, "currency": SETTLEMENT_CURRENCY, "description": "STRIPE PAYOUT",
        "destination": "ba_1PayopsDemoBankAccount", "failure_balance_transaction": None, "failure_code": None,
        "failure_message": None, "livemode": True, "metadata": {}, "method": "standard",
        "original_payout": None, "reconciliation_status": "in_progress", "reversed_by": None,
        "source_type": "card", "statement_descriptor": None, "status": "pending", "type": "bank_account",
    }


def payout_event(ids: StripeIds, t: int, type_: str, payout: so.Obj, previous: so.Obj | None) -> so.Obj:
    return so.event(ids, t, type_, dict(payout), previous=previous, livemode=True, request=NO_REQUEST,
                    pending_webhooks=1)
