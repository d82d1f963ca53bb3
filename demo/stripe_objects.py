"""Stripe objects in the shape of Stripe's own fixtures (demo/templates), filled with realistic values.

Each builder starts from a fresh copy of its template and overwrites every value the fixture only holds as a
placeholder, so the field names and nesting stay Stripe's while the values tell a consistent story.
"""

from __future__ import annotations

from importlib.resources import files
from typing import TYPE_CHECKING, Any

import orjson

from demo.catalog import Decline, DisputeReason
from demo.ids import StripeIds

if TYPE_CHECKING:
    from demo.lifecycle import Purchase
    from demo.people import Card

API_VERSION = "2026-07-29.dahlia"
STATEMENT_DESCRIPTOR = "APRENDECOMIGO TUTORING"
Obj = dict[str, Any]


class Template:
    def __init__(self, name: str) -> None:
        self._json = (files("demo") / "templates" / f"{name}.json").read_bytes()

    def new(self, **values: Any) -> Obj:
        obj = orjson.loads(self._json)  # a fresh deep copy, faster than copy.deepcopy
        if unknown := values.keys() - obj.keys():
            raise KeyError(f"not fields of Stripe's fixture: {sorted(unknown)}")
        obj.update(values)
        return obj


PAYMENT_INTENT = Template("payment_intent")
CHARGE = Template("charge")
PAYMENT_METHOD = Template("payment_method")
REFUND = Template("refund")
DISPUTE = Template("dispute")
BALANCE_TRANSACTION = Template("balance_transaction")


def payment_intent(ids: StripeIds, p: Purchase, created: int) -> Obj:
    pi_id = ids.new("pi")
    return PAYMENT_INTENT.new(
        id=pi_id, amount=p.amount, currency=p.currency, created=created, customer=p.customer_id,
        capture_method=p.capture_method, client_secret=f"{pi_id}_secret_{ids.token(25)}", canceled_at=None,
        description=p.description, last_payment_error=None, livemode=p.livemode, metadata=p.metadata,
        next_action=None, payment_method_configuration_details=None, processing=None, managed_payments=None,
        payment_method_options={"card": {"installments": None, "mandate_options": None, "network": None,
                                         "request_three_d_secure": "automatic"}},
        receipt_email=p.email, shipping=None, transfer_data=None,
    )


def charge(ids: StripeIds, p: Purchase, card: Card, created: int, *, decline: Decline | None, risk_score: int) -> Obj:
    """An attempt on `p`'s payment intent: approved (captured or only authorized) or declined."""
    approved = decline is None
    captured = approved and p.capture_method == "automatic"
    cvc = "fail" if decline and decline.failure_code == "incorrect_cvc" else "pass"
    ch = CHARGE.new(
        id=ids.new("ch"), amount=p.amount, amount_captured=p.amount if captured else 0,
        balance_transaction=ids.new("txn") if captured else None,
        billing_details={"address": {"city": None, "country": card.country, "line1": None, "line2": None,
                                     "postal_code": None, "state": None},
                         "email": p.email, "name": p.payer_name, "phone": None, "tax_id": None},
        calculated_statement_descriptor=STATEMENT_DESCRIPTOR, captured=captured, created=created,
        currency=p.currency, customer=p.customer_id, description=p.description,
        failure_code=decline.failure_code if decline else None,
        failure_message=decline.message if decline else None,
        livemode=p.livemode, metadata=p.metadata, outcome=outcome(decline, risk_score), paid=approved,
        payment_intent=p.payment_intent_id, payment_method=card.payment_method_id,
        payment_method_details={"card": card_details(card, p.amount if approved else None, cvc,
                                                     authorization_code=ids.token(6).upper() if approved else None),
                                "type": "card"},
        receipt_email=p.email, receipt_url=f"https://pay.stripe.com/receipts/payment/{ids.token(64)}",
        shipping=None, source=None, status="succeeded" if approved else "failed", transfer_data=None,
    )
    del ch["refunds"]  # since API 2022-11-15 only present when expanded, so never in webhooks
    return ch


def outcome(decline: Decline | None, risk_score: int) -> Obj:
    if decline is None:
        return {"advice_code": None, "network_advice_code": None, "network_decline_code": None,
                "network_status": "approved_by_network", "reason": None,
                "risk_level": "normal" if risk_score < 65 else "elevated", "risk_score": risk_score,
                "seller_message": "Payment complete.", "type": "authorized"}
    return {"advice_code": decline.advice_code, "network_advice_code": None,
            "network_decline_code": decline.network_decline_code, "network_status": decline.network_status,
            "reason": decline.outcome_reason, "risk_level": decline.risk_level, "risk_score": risk_score,
            "seller_message": decline.seller_message, "type": decline.outcome_type}


def card_details(card: Card, authorized: int | None, cvc_check: str, *, authorization_code: str | None) -> Obj:
    return {
        "amount_authorized": authorized, "brand": card.brand,
        "checks": {"address_line1_check": None, "address_postal_code_check": None, "cvc_check": cvc_check},
        "country": card.country, "exp_month": card.exp_month, "exp_year": card.exp_year,
        "extended_authorization": {"status": "disabled"}, "fingerprint": card.fingerprint,
        "funding": card.funding, "incremental_authorization": {"status": "unavailable"}, "installments": None,
        "last4": card.last4, "mandate": None, "multicapture": {"status": "unavailable"}, "network": card.brand,
        "network_token": {"used": False},
        "overcapture": {"maximum_amount_capturable": authorized or 0, "status": "unavailable"},
        "three_d_secure": None, "wallet": None,
        "authorization_code": authorization_code,
        "regulated_status": "unregulated", "network_transaction_id": None, "transaction_link_id": None,
    }


def payment_method(p: Purchase, card: Card) -> Obj:
    pm = PAYMENT_METHOD.new(
        id=card.payment_method_id, created=card.created, customer=p.customer_id, livemode=p.livemode, metadata={},
        billing_details={"address": {"city": None, "country": card.country, "line1": None, "line2": None,
                                     "postal_code": None, "state": None},
                         "email": p.email, "name": p.payer_name, "phone": None, "tax_id": None},
    )
    pm["card"].update(
        brand=card.brand, country=card.country, display_brand=card.brand, exp_month=card.exp_month,
        exp_year=card.exp_year, fingerprint=card.fingerprint, funding=card.funding, last4=card.last4,
        generated_from=None, networks={"available": [card.brand], "preferred": None}, wallet=None,
    )
    return pm


def payment_error(p: Purchase, card: Card, charge_id: str, decline: Decline) -> Obj:
    """The PI's `last_payment_error` after a declined attempt."""
    return {"advice_code": decline.advice_code, "charge": charge_id, "code": decline.failure_code,
            "decline_code": decline.decline_code,
            "doc_url": f"https://stripe.com/docs/error-codes/{decline.failure_code.replace('_', '-')}",
            "message": decline.message, "network_decline_code": decline.network_decline_code,
            "payment_method": payment_method(p, card), "type": "card_error"}


def refund(ids: StripeIds, p: Purchase, charge_id: str, amount: int, created: int, *, status: str, reason: str) -> Obj:
    return REFUND.new(
        id=ids.new("re"), amount=amount, balance_transaction=ids.new("txn"), charge=charge_id, created=created,
        currency=p.currency, destination_details={"card": {"type": "refund"}, "type": "card"},
        metadata={k: v for k, v in p.metadata.items() if k == "purchase_transaction_id"},
        payment_intent=p.payment_intent_id, reason=reason, status=status, customer=p.customer_id,
        payment_method=p.card.payment_method_id,
    )


def dispute(
    ids: StripeIds, p: Purchase, ch: Obj, created: int, *, reason: DisputeReason, inquiry: bool, due_by: int
) -> Obj:
    brand = ch["payment_method_details"]["card"]["brand"]
    network_code = {"visa": reason.visa_code, "mastercard": reason.mastercard_code}.get(brand)
    compelling_evidence = brand == "visa" and reason.reason == "fraudulent"
    return DISPUTE.new(
        id=ids.new("dp"), amount=ch["amount_captured"], balance_transactions=[], charge=ch["id"], created=created,
        currency=p.currency,
        evidence_details={"due_by": due_by, "has_evidence": False, "past_due": False, "submission_count": 0,
                          "enhanced_eligibility": {}},
        is_charge_refundable=inquiry, livemode=p.livemode, metadata={}, payment_intent=p.payment_intent_id,
        payment_method_details={"card": {"brand": brand, "case_type": "inquiry" if inquiry else "chargeback",
                                         "network_reason_code": network_code, "network": brand}, "type": "card"},
        reason=reason.reason, status="warning_needs_response" if inquiry else "needs_response",
        enhanced_eligibility_types=["visa_compelling_evidence_3"] if compelling_evidence else [],
    )


def event(
    ids: StripeIds, created: int, type_: str, obj: Obj, *, previous: Obj | None, livemode: bool,
    request: dict[str, str | None], pending_webhooks: int,
) -> Obj:
    data: Obj = {"object": obj}
    if previous is not None:
        data["previous_attributes"] = previous
    return {"id": ids.new("evt"), "object": "event", "api_version": API_VERSION, "created": created, "data": data,
            "livemode": livemode, "pending_webhooks": pending_webhooks, "request": request, "type": type_}
