"""The local Stripe (actions.local_stripe) as the tests start it: a subprocess on 127.0.0.1, and helpers that
make objects there through the real SDK and mirror them into the warehouse's state tables, as processing would."""

from __future__ import annotations

import json

import httpx
import sqlalchemy as sa
import stripe

VISA = "4242424242424242"
DECLINED = "4000000000000341"
"""attaches to a customer, then every charge on it is declined (Stripe's test card, localstripe too)"""


def card(client: stripe.StripeClient, number: str = VISA) -> str:
    return client.v1.payment_methods.create({"type": "card", "card": {
        "number": number, "exp_month": 12, "exp_year": 2031, "cvc": "123"}}).id


def mirror(engine: sa.Engine, table: str, obj: stripe.StripeObject | dict) -> None:
    """Put the object into raw.stripe_<table> as the processing of its latest event would."""
    data = obj.to_dict() if isinstance(obj, stripe.StripeObject) else obj
    with engine.begin() as conn:
        conn.execute(sa.text(f"""
            insert into raw.stripe_{table} (id, livemode, object, last_event_id, last_event_created_at)
            values (:id, false, cast(:object as jsonb), 'evt_test', now())
            on conflict (id) do update set object = excluded.object, updated_at = now()
        """), {"id": data["id"], "object": json.dumps(data, default=str)})


def charge(client: stripe.StripeClient, engine: sa.Engine, amount: int, currency: str = "eur",
           number: str = VISA) -> stripe.Charge:
    made = client.v1.charges.create({"amount": amount, "currency": currency, "source": card(client, number)})
    mirror(engine, "charges", made)
    return made


def open_dispute(url: str, engine: sa.Engine, charge_id: str, **fields) -> dict:
    dispute = httpx.post(f"{url}/_config/disputes", data={"charge": charge_id, **fields}).raise_for_status().json()
    mirror(engine, "disputes", dispute)
    with engine.begin() as conn:  # Stripe marks the charge disputed; its charge.dispute.created says so
        conn.execute(sa.text("""update raw.stripe_charges set object = object || '{"disputed": true}'::jsonb
                                where id = :id"""), {"id": charge_id})
    return dispute
