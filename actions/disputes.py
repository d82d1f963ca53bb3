"""Dispute responses: an evidence draft kept locally, files through Stripe's Files API, submission, acceptance.

Each save is a new version in ops.payment_disputes (the newest is the draft); submitting sends the draft's
text fields and file ids to Stripe in one update with `submit=true`; accepting closes the dispute at Stripe.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from actions.errors import ActionInvalid
from actions.guards import require_admin
from actions.money import format_money
from actions.service import ActionResult, Actions, ActionSpec, check_person, perform

EVIDENCE_FILE_FIELDS = ("receipt", "customer_communication", "service_documentation", "refund_policy",
                        "cancellation_policy", "customer_signature", "duplicate_charge_documentation",
                        "shipping_documentation", "uncategorized_file")
EVIDENCE_TEXT_FIELDS = ("product_description", "customer_name", "customer_email_address", "service_date",
                        "access_activity_log", "refund_policy_disclosure", "refund_refusal_explanation",
                        "cancellation_policy_disclosure", "cancellation_rebuttal", "duplicate_charge_explanation",
                        "duplicate_charge_id", "billing_address", "customer_purchase_ip", "uncategorized_text")
"""Stripe's dispute evidence fields that fit a tutoring marketplace (no shipping), text ones then files."""
OPEN_STATUSES = ("needs_response", "warning_needs_response")
DUE_SOON = timedelta(days=3)
MAX_FILE_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True)
class DisputeFacts:
    dispute_id: str
    charge_id: str
    amount: int
    currency: str
    status: str
    reason: str
    due_by: datetime | None

    @property
    def open(self) -> bool:
        return self.status in OPEN_STATUSES


@dataclass(frozen=True)
class Draft:
    evidence: dict
    files: dict
    """evidence field → {file_id, filename, size}"""
    submission_count: int
    status: str
    edited_by: str | None


def dispute_facts(conn: sa.Connection, dispute_id: str) -> DisputeFacts:
    row = conn.execute(sa.text("""
        select id, object ->> 'charge', (object ->> 'amount')::bigint, object ->> 'currency', object ->> 'status',
               object ->> 'reason', to_timestamp((object -> 'evidence_details' ->> 'due_by')::bigint)
        from raw.stripe_disputes where id = :id
    """), {"id": dispute_id}).one_or_none()
    if row is None:
        raise ActionInvalid(f"{dispute_id} is not a dispute the warehouse knows; check the id, or refresh first.")
    return DisputeFacts(*row)


def current_draft(conn: sa.Connection, dispute_id: str) -> Draft:
    row = conn.execute(sa.text("""
        select evidence, files, submission_count, status, edited_by from ops.current_payment_disputes
        where dispute_id = :id
    """), {"id": dispute_id}).one_or_none()
    return Draft(*row) if row else Draft({}, {}, 0, "draft", None)


def due_warning(due_by: datetime | None, now: datetime | None = None) -> str | None:
    """'past due by 2 days', 'due in 20 hours': a warning when the due date is near or past; None otherwise."""
    if due_by is None:
        return None
    left = due_by - (now or datetime.now(UTC))
    if left <= timedelta(0):
        return f"past due by {_span(-left)}: Stripe no longer takes evidence"
    if left <= DUE_SOON:
        return f"due in {_span(left)}"
    return None


def _span(delta: timedelta) -> str:
    hours = int(delta.total_seconds() // 3600)
    days, hours = divmod(hours, 24)
    parts = [f"{days} day{'s' * (days != 1)}"] if days else []
    return " ".join([*parts, f"{hours} hour{'s' * (hours != 1)}"])


def _check_open(facts: DisputeFacts) -> None:
    if not facts.open:
        raise ActionInvalid(f"{facts.dispute_id} is {facts.status}: Stripe takes evidence or acceptance only while "
                            "it needs a response.")


def _clean_evidence(evidence: dict) -> dict:
    unknown = sorted(set(evidence) - set(EVIDENCE_TEXT_FIELDS))
    if unknown:
        raise ActionInvalid(f"{', '.join(unknown)} is not an evidence text field Stripe takes.")
    return {field: value.strip() for field, value in evidence.items() if value and value.strip()}


def _version(conn: sa.Connection, facts: DisputeFacts, draft: Draft, status: str, editor: str,
             submissions: int) -> None:
    conn.execute(sa.text("""
        insert into ops.payment_disputes (dispute_id, charge_id, status, evidence, files, submission_count,
                                          edited_by)
        values (:dispute, :charge, :status, cast(:evidence as jsonb), cast(:files as jsonb), :submissions, :editor)
    """), {"dispute": facts.dispute_id, "charge": facts.charge_id, "status": status,
           "evidence": json.dumps(draft.evidence), "files": json.dumps(draft.files), "submissions": submissions,
           "editor": editor})


def upload_evidence_file(actions: Actions, admin_email: str | None, filename: str, content: bytes) -> dict:
    """Send one file to Stripe's Files API (purpose dispute_evidence); returns what a draft keeps of it."""
    with actions.session() as conn:
        require_admin(conn, admin_email)
    if len(content) > MAX_FILE_BYTES:
        raise ActionInvalid(f"{filename} is {len(content) / 1e6:.1f} MB; Stripe takes evidence files up to 5 MB.")
    upload = io.BytesIO(content)
    upload.name = filename  # the SDK names the multipart part after the file object's name
    uploaded = actions.call_stripe(lambda: actions.stripe.v1.files.create(
        {"purpose": "dispute_evidence", "file": upload}))
    return {"file_id": uploaded.id, "filename": filename, "size": uploaded.size}


def save_draft(actions: Actions, admin_email: str | None, dispute_id: str, evidence: dict, files: dict,
               idempotency_key: str) -> ActionResult:
    """Keep the evidence as typed so far (no Stripe call); files are the uploads' {field: {file_id, …}}."""
    unknown_files = sorted(set(files) - set(EVIDENCE_FILE_FIELDS))
    if unknown_files:
        raise ActionInvalid(f"{', '.join(unknown_files)} is not an evidence file field Stripe takes.")
    draft_evidence = _clean_evidence(evidence)
    with actions.session() as conn:
        user = check_person(conn, admin_email, needs_totp=False)
        facts = dispute_facts(conn, dispute_id)
        submissions = current_draft(conn, dispute_id).submission_count
        spec = ActionSpec("dispute_evidence_save", "dispute", dispute_id, None,
                          {"fields": sorted(draft_evidence), "files": {k: v["file_id"] for k, v in files.items()}},
                          idempotency_key)
        draft = Draft(draft_evidence, files, submissions, "draft", user.email)
        return perform(actions, conn, user, spec, lambda locked: _check_open(dispute_facts(locked, dispute_id)),
                       None, lambda write, _: _version(write, facts, draft, "draft", user.email, submissions))


def describe_submission(facts: DisputeFacts, draft: Draft) -> str:
    files = ", ".join(f"{field}: {f['filename']}" for field, f in draft.files.items()) or "no files"
    return (f"submit evidence on {facts.dispute_id} ({format_money(facts.amount, facts.currency)}, "
            f"{facts.reason}) to Stripe: {len(draft.evidence)} text field(s), {files}. Stripe takes one "
            "submission; it cannot be edited after.")


def submit_evidence(actions: Actions, admin_email: str | None, dispute_id: str, idempotency_key: str
                    ) -> ActionResult:
    """Send the saved draft to Stripe and submit it (needs a fresh TOTP code)."""
    with actions.session() as conn:
        user = check_person(conn, admin_email, needs_totp=True)
        facts = dispute_facts(conn, dispute_id)
        draft = current_draft(conn, dispute_id)

        def validate(locked: sa.Connection) -> None:
            _check_open(dispute_facts(locked, dispute_id))
            if not draft.evidence and not draft.files:
                raise ActionInvalid(f"The draft for {dispute_id} is empty; save some evidence first.")

        evidence = {**draft.evidence, **{field: f["file_id"] for field, f in draft.files.items()}}
        spec = ActionSpec("dispute_evidence_submit", "dispute", dispute_id, None,
                          {"fields": sorted(evidence), "files": {k: v["file_id"] for k, v in draft.files.items()}},
                          idempotency_key)
        return perform(actions, conn, user, spec, validate,
                       lambda key: actions.stripe.v1.disputes.update(dispute_id,
                                                                     {"evidence": evidence, "submit": True},
                                                                     {"idempotency_key": key}),
                       lambda write, _: _version(write, facts, draft, "submitted", user.email,
                                                 draft.submission_count + 1))


def describe_acceptance(facts: DisputeFacts) -> str:
    return (f"accept dispute {facts.dispute_id} on {facts.charge_id}: close it at Stripe and lose "
            f"{format_money(facts.amount, facts.currency)} ({facts.reason}); this cannot be undone.")


def accept_dispute(actions: Actions, admin_email: str | None, dispute_id: str, reason: str,
                   idempotency_key: str) -> ActionResult:
    """Close (accept) the dispute at Stripe (needs a fresh TOTP code and a reason)."""
    if not (reason or "").strip():
        raise ActionInvalid("Say why the dispute is accepted (it is kept in the audit trail).")
    with actions.session() as conn:
        user = check_person(conn, admin_email, needs_totp=True)
        facts = dispute_facts(conn, dispute_id)
        draft = current_draft(conn, dispute_id)
        spec = ActionSpec("dispute_accept", "dispute", dispute_id, reason.strip(), {}, idempotency_key)
        return perform(actions, conn, user, spec, lambda locked: _check_open(dispute_facts(locked, dispute_id)),
                       lambda key: actions.stripe.v1.disputes.close(dispute_id, {}, {"idempotency_key": key}),
                       lambda write, _: _version(write, facts, draft, "accepted", user.email,
                                                 draft.submission_count))
