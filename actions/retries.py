"""Payment retries: confirm a failed payment intent (requires_payment_method) with the customer's stored card."""

from __future__ import annotations

import sqlalchemy as sa
import stripe

from actions.errors import ActionInvalid, ActionRefused
from actions.money import format_money
from actions.service import ActionResult, Actions, ActionSpec, check_person, perform

MAX_ATTEMPTS = 3
"""Retries per payment intent, whoever makes them: more would look like card testing to the networks."""


def intent_facts(conn: sa.Connection, payment_intent_id: str) -> dict:
    row = conn.execute(sa.text("""
        select id, object ->> 'status' as status, object ->> 'customer' as customer,
               (object ->> 'amount')::bigint as amount, object ->> 'currency' as currency,
               (select count(*) from ops.admin_actions a where a.action_type = 'payment_retry'
                  and a.target_id = :id and a.status = 'requested') as attempts
        from raw.stripe_payment_intents where id = :id
    """), {"id": payment_intent_id}).mappings().one_or_none()
    if row is None:
        raise ActionInvalid(f"{payment_intent_id} is not a payment intent the warehouse knows; refresh first.")
    return dict(row)


def failed_intents(engine: sa.Engine) -> list[dict]:
    """Payment intents whose last attempt failed (requires_payment_method), with their retries so far."""
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.text("""
            select id, object ->> 'customer' as customer, (object ->> 'amount')::bigint as amount,
                   object ->> 'currency' as currency, object -> 'last_payment_error' ->> 'message' as last_error,
                   (select count(*) from ops.admin_actions a where a.action_type = 'payment_retry'
                      and a.target_id = i.id and a.status = 'requested') as attempts
            from raw.stripe_payment_intents i
            where object ->> 'status' = 'requires_payment_method' and object ->> 'customer' is not null
            order by last_event_created_at desc limit 500
        """)).mappings()]


def stored_payment_methods(actions: Actions, customer_id: str) -> list[stripe.PaymentMethod]:
    """The customer's saved cards, from Stripe."""
    return list(actions.call_stripe(lambda: actions.stripe.v1.payment_methods.list(
        {"customer": customer_id, "type": "card"})).data)


def describe_retry(facts: dict, payment_method_id: str) -> str:
    return (f"confirm {facts['id']} again: charge {format_money(facts['amount'], facts['currency'])} to "
            f"{payment_method_id} (attempt {facts['attempts'] + 1} of {MAX_ATTEMPTS})")


def _check(facts: dict) -> None:
    if facts["status"] != "requires_payment_method":
        raise ActionInvalid(f"{facts['id']} is {facts['status']}: only a failed payment (requires_payment_method) "
                            "can be retried.")
    if facts["attempts"] >= MAX_ATTEMPTS:
        raise ActionRefused(f"{facts['id']} was retried {facts['attempts']} times, the most allowed; ask the "
                            "customer to pay again themselves.")


def retry_payment(actions: Actions, admin_email: str | None, payment_intent_id: str, payment_method_id: str,
                  idempotency_key: str) -> ActionResult:
    """Confirm the intent with a stored payment method (needs a fresh TOTP code); a decline is a failed row."""
    def call(key: str) -> stripe.PaymentIntent:
        intent = actions.stripe.v1.payment_intents.confirm(payment_intent_id, {"payment_method": payment_method_id},
                                                            {"idempotency_key": key})
        if intent.status == "requires_payment_method":  # declined again: Stripe answers 200 with the error
            error = intent.last_payment_error.to_dict() if intent.last_payment_error else {}
            raise stripe.CardError(error.get("message") or "The card was declined.", None, error.get("code"))
        return intent

    spec = ActionSpec("payment_retry", "payment_intent", payment_intent_id, None,
                      {"payment_method": payment_method_id}, idempotency_key)
    with actions.session() as conn:
        user = check_person(conn, admin_email, needs_totp=True)
        _check(intent_facts(conn, payment_intent_id))
        return perform(actions, conn, user, spec, lambda locked: _check(intent_facts(locked, payment_intent_id)),
                       call)
