"""Refunds, full or partial, checked against what the warehouse knows of the charge before Stripe is called."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa

from actions.audit import request_and_outcome
from actions.errors import ActionInvalid
from actions.money import format_money, to_minor
from actions.service import ActionResult, Actions, ActionSpec, check_person, perform

REFUND_REASONS = ("requested_by_customer", "duplicate", "fraudulent")
"""Stripe's refund reasons; a refund must carry one."""


@dataclass(frozen=True)
class ChargeFacts:
    """A charge as the warehouse last heard of it (raw.stripe_charges), with our own refunds Stripe has
    confirmed to us but whose events have not arrived yet."""

    charge_id: str
    currency: str
    amount: int
    amount_refunded: int
    pending_own_refunds: int
    status: str
    disputed: bool
    dispute_refundable: bool | None
    """Stripe's dispute.is_charge_refundable for the charge's dispute; None without a dispute"""

    @property
    def refundable(self) -> int:
        return max(self.amount - self.amount_refunded - self.pending_own_refunds, 0)


def charge_facts(conn: sa.Connection, charge_id: str) -> ChargeFacts:
    row = conn.execute(sa.text("""
        select c.id, c.object ->> 'currency', (c.object ->> 'amount')::bigint,
               coalesce((c.object ->> 'amount_refunded')::bigint, 0), c.object ->> 'status',
               coalesce((c.object ->> 'disputed')::boolean, false),
               (select (d.object ->> 'is_charge_refundable')::boolean from raw.stripe_disputes d
                where d.object ->> 'charge' = c.id order by d.last_event_created_at desc limit 1),
               coalesce((select sum((a.params ->> 'amount_minor')::bigint) from ops.admin_actions a
                         join ops.admin_actions outcome on outcome.request_id = a.action_id
                         where a.action_type = 'refund' and a.target_id = c.id and outcome.status = 'succeeded'
                           and not exists (select from raw.stripe_refunds r where r.id = outcome.stripe_object_id)
                        ), 0)
        from raw.stripe_charges c where c.id = :id
    """), {"id": charge_id}).one_or_none()
    if row is None:
        raise ActionInvalid(f"{charge_id} is not a charge the warehouse knows; check the id, or refresh first.")
    charge_id, currency, amount, refunded, status, disputed, dispute_refundable, pending = row
    return ChargeFacts(charge_id, currency, amount, refunded, int(pending), status, disputed, dispute_refundable)


@dataclass(frozen=True)
class RefundForm:
    charge_id: str
    amount: Decimal | str
    """in major units, as typed (EUR 40.00)"""
    reason: str | None
    idempotency_key: str


def check_refund(facts: ChargeFacts, form: RefundForm) -> int:
    """The amount in minor units, or ActionInvalid saying why this refund cannot be made."""
    if not form.reason:
        raise ActionInvalid(f"A refund needs a reason: one of {', '.join(REFUND_REASONS)}.")
    if form.reason not in REFUND_REASONS:
        raise ActionInvalid(f"{form.reason!r} is not a refund reason Stripe takes: {', '.join(REFUND_REASONS)}.")
    amount = to_minor(form.amount, facts.currency)
    if facts.status != "succeeded":
        raise ActionInvalid(f"{facts.charge_id} did not succeed (it is {facts.status}): there is nothing to refund.")
    if facts.refundable == 0:
        raise ActionInvalid(f"{facts.charge_id} is already fully refunded.")
    if facts.disputed and facts.dispute_refundable is False:
        raise ActionInvalid(f"{facts.charge_id} is disputed and Stripe does not allow refunding it; respond to the "
                            "dispute (or accept it) instead.")
    if amount > facts.refundable:
        raise ActionInvalid(f"{format_money(amount, facts.currency)} is more than the "
                            f"{format_money(facts.refundable, facts.currency)} still refundable on {facts.charge_id}.")
    return amount


def describe_refund(facts: ChargeFacts, form: RefundForm) -> str:
    """What confirming will do, in one line: 'refund EUR 40.00 of EUR 75.50 on ch_…, reason: requested_by_customer'."""
    amount = to_minor(form.amount, facts.currency)
    line = (f"refund {format_money(amount, facts.currency)} of {format_money(facts.amount, facts.currency)} "
            f"on {facts.charge_id}, reason: {form.reason}")
    if facts.refundable != facts.amount:
        line += f" ({format_money(facts.refundable, facts.currency)} still refundable)"
    return line


def refund(actions: Actions, admin_email: str | None, form: RefundForm) -> ActionResult:
    """Refund once per form: rejected before Stripe when the person or the amount is wrong."""
    with actions.session() as conn:
        user = check_person(conn, admin_email, needs_totp=True)
        facts = charge_facts(conn, form.charge_id)
        earlier, _ = request_and_outcome(conn, form.idempotency_key)
        # A form already submitted (a reload, a retry) is answered from its request, not checked again.
        amount = earlier.params["amount_minor"] if earlier else check_refund(facts, form)
        spec = ActionSpec("refund", "charge", form.charge_id, form.reason,
                          {"amount_minor": amount, "currency": facts.currency}, form.idempotency_key)

        def validate(locked: sa.Connection) -> None:
            # Again under the charge's lock: another form may have refunded part of it meanwhile.
            check_refund(charge_facts(locked, form.charge_id), form)

        def call(idempotency_key: str):
            return actions.stripe.v1.refunds.create(
                {"charge": form.charge_id, "amount": amount, "reason": form.reason,
                 "metadata": {"payops_idempotency_key": idempotency_key}},
                {"idempotency_key": idempotency_key})

        return perform(actions, conn, user, spec, validate, call)
