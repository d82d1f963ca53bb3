"""Fraud alerts: raised once per subject from the fraud_signals mart, then confirmed or dismissed by an admin.

A decision is a local record (a new ops.fraud_alerts row and an audit row); an admin may also flag or clear a
charge or customer no alert was raised for. A decision on a charge is also reported to Stripe, as the charge's
fraud_details.user_report (which feeds Stripe's own fraud detection), and recorded only once Stripe took it;
Stripe has no report for a customer, so those stay local (docs/decisions.md).
"""

from __future__ import annotations

import sqlalchemy as sa
import stripe

from actions.errors import ActionInvalid
from actions.service import ActionResult, Actions, ActionSpec, check_person, perform

ALERT_THRESHOLD = 50
"""fraud_signals.risk_score (0-100) from which a subject gets an alert."""
DECISIONS = {"confirmed_fraud": "fraud_flag", "dismissed": "fraud_clear"}
USER_REPORTS = {"confirmed_fraud": "fraudulent", "dismissed": "safe"}
"""What a decision on a charge tells Stripe (fraud_details.user_report)."""


def raise_alerts(writer: sa.Engine, engine: sa.Engine, threshold: int = ALERT_THRESHOLD) -> int:
    """Open an alert for each subject at or above the threshold that never had one; returns how many."""
    with engine.connect() as conn:
        signals = conn.execute(sa.text("""
            select s.entity_type, s.entity_id, s.customer_id, s.risk_score, s.rules_fired
            from analytics.fraud_signals s
            where s.risk_score >= :threshold
              and not exists (select from ops.fraud_alerts a
                              where a.entity_type = s.entity_type and a.entity_id = s.entity_id)
        """), {"threshold": threshold}).mappings().all()
    if signals:
        with writer.begin() as conn:
            conn.execute(sa.text("""
                insert into ops.fraud_alerts (entity_type, entity_id, customer_id, status, risk_score, rules_fired)
                values (:entity_type, :entity_id, :customer_id, 'open', :risk_score, :rules_fired)
            """), [dict(s) for s in signals])
    return len(signals)


def open_alerts(engine: sa.Engine) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.text("""
            select entity_type, entity_id, customer_id, risk_score, rules_fired, created_at
            from ops.current_fraud_alerts where status = 'open' order by risk_score desc, created_at
        """)).mappings()]


def describe_decision(entity_type: str, entity_id: str, decision: str, note: str) -> str:
    if decision not in DECISIONS:
        raise ActionInvalid(f"{decision!r} is not a decision: confirmed_fraud or dismissed.")
    if entity_type not in ("charge", "customer"):
        raise ActionInvalid("Fraud decisions are on a charge or a customer.")
    if not (note or "").strip():
        raise ActionInvalid("Say why (a note is kept with the decision).")
    verb = "flag" if decision == "confirmed_fraud" else "clear"
    line = f"{verb} {entity_type} {entity_id} as {decision.replace('_', ' ')}, note: {note.strip()}"
    if entity_type == "charge":
        line += f"; and report it to Stripe as {USER_REPORTS[decision]}"
    return line


def decide(actions: Actions, admin_email: str | None, entity_type: str, entity_id: str, decision: str, note: str,
           idempotency_key: str) -> ActionResult:
    """Confirm fraud on (flag) or dismiss (clear) a charge or customer, with a note."""
    describe_decision(entity_type, entity_id, decision, note)
    to_stripe = {"user_report": USER_REPORTS[decision]} if entity_type == "charge" else {}
    spec = ActionSpec(DECISIONS[decision], entity_type, entity_id, note.strip(), {"decision": decision, **to_stripe},
                      idempotency_key)

    def report(key: str) -> stripe.Charge:
        return actions.stripe.v1.charges.update(entity_id, {"fraud_details": to_stripe}, {"idempotency_key": key})

    with actions.session() as conn:
        user = check_person(conn, admin_email, needs_totp=False)

        def record(write: sa.Connection, _answer) -> None:
            write.execute(sa.text("""
                insert into ops.fraud_alerts (entity_type, entity_id, status, decided_by, note)
                values (:entity_type, :entity_id, :status, :admin, :note)
            """), {"entity_type": entity_type, "entity_id": entity_id, "status": decision, "admin": user.email,
                   "note": note.strip()})

        return perform(actions, conn, user, spec, lambda locked: None, report if to_stripe else None, record)
