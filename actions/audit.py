"""The audit trail: ops.admin_actions rows written through the app's INSERT-only role, and the chain check.

An action is two rows: `requested` (written before Stripe is called, with the idempotency key) and its outcome,
`succeeded` or `failed`, which references the request. The database numbers and chains the rows itself.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

WRITER_ROLE = "payops_action_writer"
ACTION_TYPES = ("refund", "dispute_evidence_save", "dispute_evidence_submit", "dispute_accept", "fraud_flag",
                "fraud_clear", "payment_retry", "reconciliation_resolve", "compliance_export")
GENESIS = "0" * 64


@dataclass(frozen=True)
class ActionRow:
    action_id: str
    seq: int | None
    """None for a row this process just wrote: the trigger sets it, and the writer may not read it back"""
    created_at: datetime | None
    """None likewise"""
    admin_email: str
    action_type: str
    target_type: str
    target_id: str
    reason: str | None
    params: dict
    idempotency_key: str
    status: str
    request_id: str | None
    stripe_object_id: str | None
    error: str | None


def _columns(alias: str) -> str:
    return ", ".join(f"{alias}.{name}::text" if name in ("action_id", "request_id") else f"{alias}.{name}"
                     for name in ActionRow.__dataclass_fields__)


def writer_engine(engine: sa.Engine) -> sa.Engine:
    """An engine on the same warehouse whose sessions act as payops_action_writer (INSERT into action tables
    only): whatever the app's code does with it, history cannot be changed through it."""
    writer = sa.create_engine(engine.url, pool_pre_ping=True, pool_size=2, max_overflow=4)

    @sa.event.listens_for(writer, "connect")
    def _become_writer(dbapi_connection, _record) -> None:
        with dbapi_connection.cursor() as cursor:
            cursor.execute(f"set role {WRITER_ROLE}")
        dbapi_connection.commit()

    return writer


def insert_action(conn: sa.Connection, *, admin_email: str, action_type: str, target_type: str, target_id: str,
                  idempotency_key: str, status: str, reason: str | None = None, params: dict | None = None,
                  request_id: str | None = None, stripe_object_id: str | None = None,
                  error: str | None = None) -> str:
    """Append one row; the trigger sets seq, created_at and the hashes. No RETURNING: the writer may not read."""
    action_id = str(uuid.uuid4())
    conn.execute(sa.text("""
        insert into ops.admin_actions (seq, action_id, request_id, admin_email, action_type, target_type, target_id,
                                       reason, params, idempotency_key, status, stripe_object_id, error,
                                       prev_hash, row_hash)
        values (0, :action_id, :request_id, :admin_email, :action_type, :target_type, :target_id, :reason,
                cast(:params as jsonb), :idempotency_key, :status, :stripe_object_id, :error, '', '')
    """), {"action_id": action_id, "request_id": request_id, "admin_email": admin_email, "action_type": action_type,
           "target_type": target_type, "target_id": target_id, "reason": reason,
           "params": json.dumps(params or {}, sort_keys=True), "idempotency_key": idempotency_key,
           "status": status, "stripe_object_id": stripe_object_id, "error": error})
    return action_id


def request_and_outcome(conn: sa.Connection, idempotency_key: str) -> tuple[ActionRow | None, ActionRow | None]:
    """The requested row for a key and its outcome, if any, in one query (read with the reading engine)."""
    row = conn.execute(sa.text(f"""
        select {_columns("r")}, {_columns("o")}
        from ops.admin_actions r left join ops.admin_actions o on o.request_id = r.action_id
        where r.idempotency_key = :key and r.status = 'requested'
    """), {"key": idempotency_key}).one_or_none()
    if row is None:
        return None, None
    width = len(ActionRow.__dataclass_fields__)
    request, outcome = row[:width], row[width:]
    return ActionRow(*request), (ActionRow(*outcome) if outcome[0] is not None else None)


@dataclass(frozen=True)
class ChainProblem:
    seq: int
    action_id: str | None
    message: str


@dataclass(frozen=True)
class ChainReport:
    rows: int
    head_hash: str
    problems: list[ChainProblem]

    @property
    def intact(self) -> bool:
        return not self.problems


def verify_chain(engine: sa.Engine) -> ChainReport:
    """Walk ops.admin_actions in seq order: each row's hash must match its content and its predecessor's hash.

    A row changed in place fails its own hash (or, if the hash was recomputed too, its successor's link);
    a removed row leaves a gap in seq and a broken link. Removing the newest rows cannot be seen from the chain
    alone: keep the head hash this reports somewhere else (a ticket, a log) to catch that.
    """
    problems: list[ChainProblem] = []
    expected_prev, expected_seq, rows = GENESIS, 1, 0
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True).execute(sa.text("""
            select seq, action_id::text, prev_hash, row_hash, ops.admin_action_hash(prev_hash, a) as recomputed
            from ops.admin_actions a order by seq
        """))
        for seq, action_id, prev_hash, row_hash, recomputed in result:
            rows += 1
            if seq != expected_seq:
                missing = f"seq {expected_seq}" if seq == expected_seq + 1 else f"seq {expected_seq}–{seq - 1}"
                problems.append(ChainProblem(expected_seq, None, f"row {missing} was removed (the chain jumps from "
                                                                 f"seq {expected_seq - 1} to seq {seq})"))
            elif prev_hash != expected_prev:
                problems.append(ChainProblem(seq - 1, None, f"row seq {seq - 1} was altered: row seq {seq} "
                                                            "recorded a different hash for it"))
            if recomputed != row_hash:
                problems.append(ChainProblem(seq, action_id, f"row seq {seq} (action {action_id}) was altered: "
                                                             "its content no longer matches its hash"))
            expected_prev, expected_seq = row_hash, seq + 1
    return ChainReport(rows, expected_prev, problems)


def action_log(engine: sa.Engine, since: datetime, admin_email: str | None = None,
               action_types: tuple[str, ...] = ()) -> list[dict]:
    """Each request with its outcome and the Stripe events it caused (linked through the events'
    request.idempotency_key by ops.admin_action_events), newest first."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text("""
            select r.seq, r.created_at as requested_at, r.admin_email, r.action_type, r.target_id, r.reason,
                   r.params::text as params, r.idempotency_key, coalesce(o.status, 'requested') as status,
                   o.stripe_object_id, o.error, o.created_at as answered_at,
                   (select string_agg(e.event_type || ' ' || e.event_id, ', ' order by e.event_created_at)
                    from ops.admin_action_events e where e.action_id = r.action_id) as events
            from ops.admin_actions r
            left join ops.admin_actions o on o.request_id = r.action_id
            where r.status = 'requested' and r.created_at >= :since
              and (cast(:admin as text) is null or r.admin_email = :admin)
              and (cardinality(cast(:types as text[])) = 0 or r.action_type = any(cast(:types as text[])))
            order by r.seq desc
        """), {"since": since, "admin": admin_email, "types": list(action_types)})
        return [dict(row) for row in rows.mappings()]


def trail(row: dict) -> str:
    """'refund requested → Stripe re_… → charge.refunded received', as the audit log shows one action."""
    steps = [f"{row['action_type']} requested"]
    if row["status"] == "failed":
        steps.append(f"failed: {row['error']}")
    elif row["status"] == "succeeded":
        steps.append(f"Stripe {row['stripe_object_id']}" if row["stripe_object_id"] else "recorded")
    for event in filter(None, (row.get("events") or "").split(", ")):
        steps.append(f"{event.split(' ')[0]} received")
    return " → ".join(steps)
