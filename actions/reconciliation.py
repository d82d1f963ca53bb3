"""Reconciliation resolutions: an exception marked explained leaves the open list and stays in the history."""

from __future__ import annotations

import sqlalchemy as sa

from actions.errors import ActionInvalid
from actions.service import ActionResult, Actions, ActionSpec, check_person, perform

SAME_EXCEPTION = """r.kind = e.kind
    and r.purchase_transaction_id is not distinct from e.purchase_transaction_id
    and r.charge_id is not distinct from e.charge_id"""


def open_exceptions(engine: sa.Engine) -> list[dict]:
    """analytics.reconciliation_exceptions minus those resolved."""
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.text(f"""
            select e.kind, e.purchase_transaction_id, e.charge_id, e.app_value, e.stripe_value, e.first_seen_at
            from analytics.reconciliation_exceptions e
            where not exists (select from ops.reconciliation_resolutions r where {SAME_EXCEPTION})
            order by e.first_seen_at, e.kind
        """)).mappings()]


def describe_resolution(kind: str, purchase_transaction_id: str | None, charge_id: str | None, note: str) -> str:
    if not (note or "").strip():
        raise ActionInvalid("Say how the exception is explained (the note stays in the history).")
    subject = " / ".join(x for x in (purchase_transaction_id, charge_id) if x)
    return f"mark {kind} on {subject} as explained, note: {note.strip()}"


def resolve(actions: Actions, admin_email: str | None, kind: str, purchase_transaction_id: str | None,
            charge_id: str | None, note: str, idempotency_key: str) -> ActionResult:
    describe_resolution(kind, purchase_transaction_id, charge_id, note)
    with actions.session() as conn:
        user = check_person(conn, admin_email, needs_totp=False)
        target = charge_id or purchase_transaction_id
        if not target:
            raise ActionInvalid("An exception names a purchase, a charge or both.")
        subject = {"kind": kind, "purchase": purchase_transaction_id, "charge": charge_id}

        def validate(locked: sa.Connection) -> None:
            state = locked.execute(sa.text("""
                select exists (select from ops.reconciliation_resolutions r
                               where r.kind = :kind and r.purchase_transaction_id is not distinct from :purchase
                                 and r.charge_id is not distinct from :charge),
                       exists (select from analytics.reconciliation_exceptions e
                               where e.kind = :kind and e.purchase_transaction_id is not distinct from :purchase
                                 and e.charge_id is not distinct from :charge)
            """), subject).one()
            if state[0]:
                raise ActionInvalid(f"That {kind} exception was already resolved.")
            if not state[1]:
                raise ActionInvalid("That exception is not open in analytics.reconciliation_exceptions (refresh?).")

        def record(write: sa.Connection, _answer) -> None:
            write.execute(sa.text("""
                insert into ops.reconciliation_resolutions (kind, purchase_transaction_id, charge_id, note,
                                                            resolved_by)
                values (:kind, :purchase, :charge, :note, :admin)
            """), {**subject, "note": note.strip(), "admin": user.email})

        spec = ActionSpec("reconciliation_resolve", "charge" if charge_id else "purchase", target, note.strip(),
                          {k: v for k, v in subject.items() if v}, idempotency_key)
        return perform(actions, conn, user, spec, validate, None, record)
