"""Plays one purchase's Plan out on Stripe: the objects change step by step and every change is an event.

Steps run in time order from a small per-purchase queue and stop at the end of the window, so a lifecycle that
would finish later simply stops where the calendar does (a dispute stays open, a refund stays pending), and the
app's view of the purchase is the state reached by then.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Protocol

from demo import stripe_objects as so
from demo.catalog import DISPUTE_REASONS, Decline, Package
from demo.ids import NO_REQUEST, StripeIds
from demo.ledger import Ledger
from demo.people import DAY, Card
from demo.plans import DisputePlan, Plan, RefundPlan

AUTHORIZATION_LIFETIME = 7 * DAY
REFUND_REASONS = ("requested_by_customer",) * 8 + ("duplicate",)
Request = dict[str, str | None]


class Deliver(Protocol):
    def __call__(self, event: so.Obj, *, late_by: int | None, twice: bool) -> None: ...


@dataclass
class World:
    """What every lifecycle shares: the seeded generator, the id factory, the delivery queue, the last second."""

    rng: random.Random
    ids: StripeIds
    deliver: Deliver
    end: int
    ledger: Ledger


@dataclass
class Purchase:
    """One checkout of a package, as the platform sent it to Stripe."""

    id: int | None
    """app.purchase_transactions.id; None for a charge the platform has no row for."""
    student_id: int
    package: Package
    amount: int
    """What Stripe charges, in minor units."""
    currency: str
    livemode: bool
    customer_id: str
    email: str
    payer_name: str
    card: Card
    backup_card: Card
    """What a customer retries with after a decline (the same card when they have only one)."""
    description: str
    metadata: dict[str, str]
    capture_method: str
    created: int
    payment_intent_id: str | None = None


@dataclass(frozen=True)
class Outcome:
    """The purchase as the platform's database sees it at the end of the window."""

    status: str
    payment_intent_id: str | None
    charge_id: str | None
    paid_at: int | None
    updated: int


def utc(t: int) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def receipt_number(purchase_id: int, paid_at: int) -> str:
    return f"RCP-{utc(paid_at).year}-{purchase_id:07d}"


class PurchaseLifecycle:
    def __init__(self, world: World, purchase: Purchase, plan: Plan) -> None:
        self.w = world
        self.p = purchase
        self.plan = plan
        self.pi: so.Obj = {}
        self.charge: so.Obj = {}
        self.status = "pending"
        self.updated = purchase.created
        self.paid_at: int | None = None
        self._queue: list[tuple[int, int, Callable[[int], None]]] = []
        self._order = itertools.count()

    def run(self) -> Outcome:
        self._at(self.p.created, self._create_intent)
        while self._queue:
            t, _, step = heapq.heappop(self._queue)
            if t > self.w.end:
                break
            step(t)
        return Outcome(self.status, self.pi.get("id"), self.charge.get("id"), self.paid_at, self.updated)

    # -- plumbing ---------------------------------------------------------------------------------------------

    def _at(self, t: int, step: Callable[[int], None]) -> None:
        heapq.heappush(self._queue, (t, next(self._order), step))

    def _emit(self, t: int, type_: str, obj: so.Obj, *, previous: so.Obj | None = None,
              request: Request = NO_REQUEST, late_by: int | None = None) -> None:
        event = so.event(self.w.ids, t, type_, obj, previous=previous, livemode=self.p.livemode, request=request,
                         pending_webhooks=self.w.rng.choice((1, 1, 1, 2)))
        self.w.deliver(event, late_by=late_by, twice=type_ in self.plan.redeliver)

    def _set_status(self, t: int, status: str) -> None:
        self.status = status
        self.updated = t

    def _jitter(self, low: int, high: int) -> int:
        return self.w.rng.randint(low, high)

    # -- paying -----------------------------------------------------------------------------------------------

    def _create_intent(self, t: int) -> None:
        self.pi = so.payment_intent(self.w.ids, self.p, t)
        self.p.payment_intent_id = self.pi["id"]
        self._emit(t, "payment_intent.created", self.pi, request=self.w.ids.request())
        if self.plan.abandoned:
            self._at(t + self._jitter(1_800, DAY), self._cancel_abandoned)
        else:
            self._at(t + self._jitter(5, 120), partial(self._attempt, 0))

    def _attempt(self, number: int, t: int) -> None:
        decline = self.plan.declines[number] if number < len(self.plan.declines) else None
        card = self.p.card if number == 0 else self.p.backup_card
        self.charge = so.charge(self.w.ids, self.p, card, t, decline=decline, risk_score=self._risk_score(decline))
        self.pi.update(latest_charge=self.charge["id"], payment_method=card.payment_method_id)
        confirm = self.w.ids.request()
        if decline is not None:
            self._decline(t, number, card, decline, confirm)
        elif self.p.capture_method == "automatic":
            self._emit(t, "charge.succeeded", self.charge, request=confirm)
            self.pi.update(status="succeeded", amount_received=self.p.amount, last_payment_error=None)
            self._emit(t, "payment_intent.succeeded", self.pi, request=confirm)
            self._money_moved(t)
        else:
            self._authorize(t, confirm)

    def _risk_score(self, decline: Decline | None) -> int:
        level = decline.risk_level if decline else "normal"
        low, high = {"normal": (0, 60), "elevated": (65, 84), "highest": (85, 99)}[level]
        return low + int(self.w.rng.betavariate(2, 6) * (high - low))

    def _decline(self, t: int, number: int, card: Card, decline: Decline, confirm: Request) -> None:
        self._emit(t, "charge.failed", self.charge, request=confirm)
        self.pi.update(status="requires_payment_method",
                       last_payment_error=so.payment_error(self.p, card, self.charge["id"], decline))
        self._emit(t, "payment_intent.payment_failed", self.pi, request=confirm)
        self._set_status(t, "failed")
        if number + 1 < len(self.plan.declines) or not self.plan.gives_up:
            self._at(t + self.plan.retry_after + self._jitter(0, 60), partial(self._attempt, number + 1))

    def _authorize(self, t: int, confirm: Request) -> None:
        """Manual capture: the card is authorized (status succeeded, captured false), which is not a failure."""
        self._emit(t, "charge.succeeded", self.charge, request=confirm)
        self.pi.update(status="requires_capture", amount_capturable=self.p.amount, last_payment_error=None)
        self._emit(t, "payment_intent.amount_capturable_updated", self.pi, request=confirm)
        self._set_status(t, "processing")
        if self.plan.capture_after is not None:
            self._at(t + self.plan.capture_after, self._capture)
        else:
            self._at(t + AUTHORIZATION_LIFETIME, self._expire)

    def _capture(self, t: int) -> None:
        capture = self.w.ids.request()
        previous = {"amount_captured": 0, "balance_transaction": None, "captured": False}
        self.charge.update(amount_captured=self.p.amount, balance_transaction=self.w.ids.new("txn"), captured=True)
        self._emit(t, "charge.captured", self.charge, previous=previous, request=capture)
        self.pi.update(status="succeeded", amount_capturable=0, amount_received=self.p.amount)
        self._emit(t, "payment_intent.succeeded", self.pi, request=capture)
        self._money_moved(t)

    def _expire(self, t: int) -> None:
        # Stripe releases an authorization it was never asked to capture and marks the charge refunded.
        self.charge.update(amount_refunded=self.p.amount, refunded=True)
        self._emit(t, "charge.expired", self.charge, previous={"amount_refunded": 0, "refunded": False})
        self.pi.update(status="canceled", amount_capturable=0, canceled_at=t, cancellation_reason="automatic")
        self._emit(t, "payment_intent.canceled", self.pi)
        self._set_status(t, "cancelled")

    def _cancel_abandoned(self, t: int) -> None:
        self.pi.update(status="canceled", canceled_at=t, cancellation_reason="abandoned")
        self._emit(t, "payment_intent.canceled", self.pi, request=self.w.ids.request())
        self._set_status(t, "cancelled")

    # -- after the money moved ------------------------------------------------------------------------------

    def _money_moved(self, t: int) -> None:
        if self.p.livemode:
            self.w.ledger.charge(self.charge, t)
        self._set_status(t, "completed")
        self.paid_at = t
        if self.plan.metadata_update and self.p.id is not None:
            self._at(t + self._jitter(2, 600), self._note_receipt)
        for refund, late_by in zip(self.plan.refunds, self._refund_delivery_delays(), strict=True):
            self._at(t + refund.after, partial(self._refund, refund, late_by))
        for dispute in self.plan.disputes:
            self._at(t + dispute.after, partial(self._open_dispute, dispute))

    def _refund_delivery_delays(self) -> list[int | None]:
        """A late refund's charge.refunded arrives after the next refund's, which then comes on time."""
        refunds = self.plan.refunds
        delays: list[int | None] = [None] * len(refunds)
        for number, (this, following) in enumerate(itertools.pairwise(refunds)):
            if this.late_delivery:
                delays[number] = following.after - this.after + self._jitter(60, 3_600)
                delays[number + 1] = 0
        return delays

    def _note_receipt(self, t: int) -> None:
        """The platform writes its receipt number onto the charge."""
        assert self.p.id is not None and self.paid_at is not None
        metadata = self.charge["metadata"] | {"receipt_number": receipt_number(self.p.id, self.paid_at)}
        self.charge["metadata"] = metadata
        self._emit(t, "charge.updated", self.charge, previous={"metadata": {"receipt_number": None}},
                   request=self.w.ids.request())

    def _refund(self, plan: RefundPlan, late_by: int | None, t: int) -> None:
        captured = self.charge["amount_captured"]
        left = captured - self.charge["amount_refunded"]
        amount = left if plan.share is None else min(left, max(1, round(captured * plan.share)))
        if amount <= 0:
            return
        refund = so.refund(self.w.ids, self.p, self.charge["id"], amount, t,
                           status="succeeded" if plan.fate == "succeeded" else "pending",
                           reason=self.w.rng.choice(REFUND_REASONS))
        if self.p.livemode:
            self.w.ledger.refund(refund, t)
        admin_action = self.w.ids.request()
        self._emit(t, "refund.created", refund, request=admin_action)
        previous = self._change_refunded(t, amount)
        self._emit(t, "charge.refunded", self.charge, previous=previous, request=admin_action, late_by=late_by)
        if plan.fate == "pending":
            self._at(t + plan.settles_after, partial(self._settle_refund, refund))
        elif plan.fate == "failed":
            self._at(t + plan.settles_after, partial(self._fail_refund, refund))

    def _change_refunded(self, t: int, delta: int) -> so.Obj:
        """Moves the charge's cumulative amount_refunded; returns the previous_attributes of that change."""
        ch = self.charge
        previous: so.Obj = {"amount_refunded": ch["amount_refunded"]}
        ch["amount_refunded"] += delta
        fully = ch["amount_refunded"] == ch["amount_captured"]
        if fully != ch["refunded"]:
            previous["refunded"] = ch["refunded"]
            ch["refunded"] = fully
            self._set_status(t, "refunded" if fully else "completed")
        return previous

    def _settle_refund(self, refund: so.Obj, t: int) -> None:
        refund["status"] = "succeeded"
        for type_ in ("refund.updated", "charge.refund.updated"):
            self._emit(t, type_, refund, previous={"status": "pending"})

    def _fail_refund(self, refund: so.Obj, t: int) -> None:
        """The card can't take the money back: it returns to the balance and the charge is no longer refunded."""
        refund.update(status="failed", failure_reason="expired_or_canceled_card",
                      failure_balance_transaction=self.w.ids.new("txn"))
        if self.p.livemode:
            self.w.ledger.refund_failure(refund, t)
        self._emit(t, "refund.failed", refund)
        self._emit(t, "charge.refund.updated", refund, previous={"status": "pending"})
        previous = self._change_refunded(t, -refund["amount"])
        self._emit(t, "charge.updated", self.charge, previous=previous)

    # -- disputes ---------------------------------------------------------------------------------------------

    def _open_dispute(self, plan: DisputePlan, t: int) -> None:
        inquiry = plan.outcome == "inquiry"
        reason = self.w.rng.choices(DISPUTE_REASONS, weights=[r.weight for r in DISPUTE_REASONS])[0]
        due_by = (t + plan.respond_by) // DAY * DAY + DAY - 1  # end of that day, as Stripe sets it
        dispute = so.dispute(self.w.ids, self.p, self.charge, t, reason=reason, inquiry=inquiry, due_by=due_by)
        self.charge["disputed"] = True
        self._emit(t, "charge.dispute.created", dispute)
        if not inquiry:  # inquiries move no money
            self._move_disputed_funds(dispute, t, reinstated=False)
            self._emit(t, "charge.dispute.funds_withdrawn", dispute)
        if plan.evidence_after is not None:
            self._at(t + plan.evidence_after, partial(self._submit_evidence, dispute, plan))
        else:
            self._at(due_by + plan.decided_after, partial(self._close_dispute, dispute, plan))

    def _submit_evidence(self, dispute: so.Obj, plan: DisputePlan, t: int) -> None:
        evidence = {
            "customer_email_address": self.p.email, "customer_name": self.p.payer_name,
            "product_description": f"{self.p.package.name} of online tutoring",
            "service_date": utc(self.p.created).date().isoformat(),
            "uncategorized_text": "Lessons were booked and attended; attendance log attached.",
        }
        previous = {"evidence": dict.fromkeys(evidence), "status": dispute["status"],
                    "evidence_details": {"has_evidence": False, "submission_count": 0}}
        dispute["evidence"].update(evidence)
        dispute["evidence_details"].update(has_evidence=True, submission_count=1)
        dispute["status"] = "warning_under_review" if plan.outcome == "inquiry" else "under_review"
        self._emit(t, "charge.dispute.updated", dispute, previous=previous, request=self.w.ids.request())
        self._at(t + plan.decided_after, partial(self._close_dispute, dispute, plan))

    def _close_dispute(self, dispute: so.Obj, plan: DisputePlan, t: int) -> None:
        previous: so.Obj = {"status": dispute["status"]}
        if plan.evidence_after is None:
            dispute["evidence_details"]["past_due"] = True
            previous["evidence_details"] = {"past_due": False}
        dispute["status"] = {"won": "won", "lost": "lost", "inquiry": "warning_closed"}[plan.outcome]
        if plan.outcome == "won":
            self._move_disputed_funds(dispute, t, reinstated=True)
        self._emit(t, "charge.dispute.closed", dispute, previous=previous)
        if plan.outcome == "won":
            self._emit(t, "charge.dispute.funds_reinstated", dispute)

    def _move_disputed_funds(self, dispute: so.Obj, t: int, *, reinstated: bool) -> None:
        transaction = self.w.ledger.dispute(dispute, t, reinstated=reinstated, live=self.p.livemode)
        dispute["balance_transactions"].append(transaction)
