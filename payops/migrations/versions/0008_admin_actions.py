"""Admin actions: an append-only, hash-chained audit trail, local dispute work, fraud alerts, reconciliation
resolutions, TOTP enrolment, and the role the app writes them through.

Every table here is append-only. A trigger rejects UPDATE, DELETE and TRUNCATE for everyone (a superuser must
disable it on purpose to tamper, and `payops audit verify` then names the row), and no application role holds
those privileges in the first place. State that changes (a dispute's draft, an alert's status) is a new row;
the current state is the newest row per subject, shown by the `current_*` views.

`ops.admin_actions` rows are chained: the insert trigger, under a transaction lock, numbers each row with the
next `seq` (no gaps) and stores the previous row's hash and its own. An outcome row (`succeeded`, `failed`)
references its `requested` row.

`payops_action_writer` is the app's role for actions (the app `SET ROLE`s to it): INSERT into these tables and
nothing else, not even SELECT. The chain trigger reads the previous row as the table owner (SECURITY DEFINER).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

NOW = sa.text("now()")
WRITER = "payops_action_writer"
ACTION_TYPES = ("refund", "dispute_evidence_save", "dispute_evidence_submit", "dispute_accept", "fraud_flag",
                "fraud_clear", "payment_retry", "reconciliation_resolve")
APPEND_ONLY = ("admin_actions", "payment_disputes", "fraud_alerts", "reconciliation_resolutions",
               "totp_verifications")
GENESIS = "0" * 64


def upgrade() -> None:
    quoted_types = ", ".join(f"'{t}'" for t in ACTION_TYPES)
    op.create_table(
        "admin_actions",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False,
                  comment="position in the chain, set by the insert trigger: 1, 2, 3 … without gaps"),
        sa.Column("action_id", pg.UUID, nullable=False, unique=True),
        sa.Column("request_id", pg.UUID, sa.ForeignKey("ops.admin_actions.action_id"),
                  comment="for an outcome row: the requested row it answers"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("admin_email", sa.Text, nullable=False),
        sa.Column("action_type", sa.Text, nullable=False),
        sa.Column("target_type", sa.Text, nullable=False, comment="charge, dispute, customer, payment_intent, …"),
        sa.Column("target_id", sa.Text, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("params", pg.JSONB, nullable=False, server_default=sa.text("'{}'::jsonb"),
                  comment="the request parameters (never secrets or card data)"),
        sa.Column("idempotency_key", sa.Text, nullable=False,
                  comment="made when the form opened; sent to Stripe as Idempotency-Key"),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("stripe_object_id", sa.Text, comment="re_…, du_…, pi_… that Stripe answered with"),
        sa.Column("error", sa.Text, comment="Stripe's (or our) message for a failed action"),
        sa.Column("prev_hash", sa.Text, nullable=False),
        sa.Column("row_hash", sa.Text, nullable=False),
        sa.CheckConstraint(f"action_type in ({quoted_types})", name="admin_actions_type_known"),
        sa.CheckConstraint("status in ('requested', 'succeeded', 'failed')", name="admin_actions_status_known"),
        sa.CheckConstraint("(status = 'requested') = (request_id is null)", name="admin_actions_outcome_has_request"),
        schema="ops",
        comment="Every admin action, requested then answered; append-only and hash-chained.",
    )
    op.create_index("admin_actions_one_request_per_key", "admin_actions", ["idempotency_key"], unique=True,
                    schema="ops", postgresql_where=sa.text("status = 'requested'"))
    op.create_index("admin_actions_one_outcome_per_request", "admin_actions", ["request_id"], unique=True,
                    schema="ops", postgresql_where=sa.text("request_id is not null"))
    op.create_index("admin_actions_by_admin", "admin_actions", ["admin_email", "created_at"], schema="ops")
    op.create_index("admin_actions_by_target", "admin_actions", ["target_id"], schema="ops")

    op.execute(f"""
        create function ops.admin_action_hash(prev_hash text, a ops.admin_actions) returns text
        language sql immutable as $$
            select encode(sha256(convert_to(concat_ws(chr(31),
                prev_hash, a.seq::text, a.action_id::text, coalesce(a.request_id::text, ''),
                extract(epoch from a.created_at)::text, a.admin_email, a.action_type, a.target_type, a.target_id,
                coalesce(a.reason, ''), a.params::text, a.idempotency_key, a.status,
                coalesce(a.stripe_object_id, ''), coalesce(a.error, '')), 'UTF8')), 'hex')
        $$;
        comment on function ops.admin_action_hash is
            'The chain hash of one admin_actions row given the previous row''s hash (genesis: {GENESIS})';

        create function ops.admin_actions_chain() returns trigger
        language plpgsql security definer set search_path = pg_catalog, ops as $$
        declare
            last record;
        begin
            -- One writer at a time extends the chain, so seq has no gaps and prev_hash is the true predecessor.
            perform pg_advisory_xact_lock(hashtext('ops.admin_actions chain'));
            select seq, row_hash into last from ops.admin_actions order by seq desc limit 1;
            new.seq := coalesce(last.seq, 0) + 1;
            new.created_at := clock_timestamp();
            new.prev_hash := coalesce(last.row_hash, '{GENESIS}');
            new.row_hash := ops.admin_action_hash(new.prev_hash, new);
            return new;
        end $$;
        create trigger admin_actions_chain before insert on ops.admin_actions
            for each row execute function ops.admin_actions_chain();

        create function ops.reject_change() returns trigger language plpgsql as $$
        begin
            raise exception '% is append-only: % is not allowed', tg_table_schema || '.' || tg_table_name, tg_op
                using errcode = 'insufficient_privilege',
                      hint = 'Record a new row (an outcome, a new version) instead of changing an old one.';
        end $$;
    """)

    op.create_table(
        "payment_disputes",
        sa.Column("version_id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("dispute_id", sa.Text, nullable=False),
        sa.Column("charge_id", sa.Text),
        sa.Column("status", sa.Text, nullable=False, comment="draft, submitted or accepted"),
        sa.Column("evidence", pg.JSONB, nullable=False, server_default=sa.text("'{}'::jsonb"),
                  comment="Stripe's evidence fields, text ones as typed"),
        sa.Column("files", pg.JSONB, nullable=False, server_default=sa.text("'{}'::jsonb"),
                  comment="evidence field → {file_id, filename, size} uploaded through the Files API"),
        sa.Column("submission_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("edited_by", sa.Text, nullable=False),
        sa.Column("edited_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.CheckConstraint("status in ('draft', 'submitted', 'accepted')", name="payment_disputes_status_known"),
        schema="ops",
        comment="Local dispute work, one row per saved version; the newest per dispute is current.",
    )
    op.create_index("payment_disputes_by_dispute", "payment_disputes", ["dispute_id", "version_id"], schema="ops")

    op.create_table(
        "fraud_alerts",
        sa.Column("alert_row_id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("entity_type", sa.Text, nullable=False),
        sa.Column("entity_id", sa.Text, nullable=False),
        sa.Column("customer_id", sa.Text),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("risk_score", sa.Integer, comment="fraud_signals.risk_score when raised"),
        sa.Column("rules_fired", sa.Text),
        sa.Column("decided_by", sa.Text, comment="the admin for confirmed_fraud/dismissed; null when raised"),
        sa.Column("note", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.CheckConstraint("entity_type in ('charge', 'customer')", name="fraud_alerts_entity_known"),
        sa.CheckConstraint("status in ('open', 'confirmed_fraud', 'dismissed')", name="fraud_alerts_status_known"),
        schema="ops",
        comment="Fraud alerts: raised once per subject from fraud_signals, then decided; newest row is current.",
    )
    op.create_index("fraud_alerts_by_subject", "fraud_alerts", ["entity_type", "entity_id", "alert_row_id"],
                    schema="ops")

    op.create_table(
        "reconciliation_resolutions",
        sa.Column("resolution_id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("purchase_transaction_id", sa.Text),
        sa.Column("charge_id", sa.Text),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("resolved_by", sa.Text, nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.CheckConstraint("length(trim(note)) > 0", name="reconciliation_resolutions_note_given"),
        schema="ops",
        comment="Reconciliation exceptions marked explained: they leave the open list and stay here.",
    )

    op.create_table(
        "user_totp",
        sa.Column("email", sa.Text, sa.ForeignKey("ops.users.email"), primary_key=True),
        sa.Column("secret_encrypted", sa.LargeBinary, nullable=False, comment="Fernet token of the base32 secret"),
        sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        schema="ops",
        comment="Admins' TOTP secrets, encrypted with the key in PAYOPS_HOME/totp.key (or PAYOPS_TOTP_KEY).",
    )
    op.create_table(
        "totp_verifications",
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("time_step", sa.BigInteger, nullable=False, comment="the code's 30 s step: a code works once"),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.PrimaryKeyConstraint("email", "time_step"),
        schema="ops",
        comment="Each accepted TOTP code; money actions need one from the last 5 minutes.",
    )

    for table in APPEND_ONLY:
        op.execute(f"""
            create trigger {table}_append_only before update or delete on ops.{table}
                for each row execute function ops.reject_change();
            create trigger {table}_no_truncate before truncate on ops.{table}
                for each statement execute function ops.reject_change();
            revoke update, delete, truncate on ops.{table} from public;
        """)

    op.execute("""
        create view ops.current_payment_disputes as
        select distinct on (dispute_id) * from ops.payment_disputes order by dispute_id, version_id desc;
        create view ops.current_fraud_alerts as
        select distinct on (entity_type, entity_id) * from ops.fraud_alerts
        order by entity_type, entity_id, alert_row_id desc;
    """)
    # The refresh's events name the request that caused them (event.request.idempotency_key): this view links
    # each action to them, so the audit log reads "refund requested → re_… → charge.refunded received".
    op.execute("""
        create view ops.admin_action_events as
        select actions.action_id, actions.idempotency_key, events.event_id, events.event_type,
               events.created_at as event_created_at, events.received_at
        from ops.admin_actions actions
        join raw.stripe_events events on events.payload -> 'request' ->> 'idempotency_key' = actions.idempotency_key
        where actions.status = 'requested';
    """)
    op.execute("""
        create index stripe_events_request_idempotency_key
        on raw.stripe_events ((payload -> 'request' ->> 'idempotency_key'))
        where payload -> 'request' ->> 'idempotency_key' is not null
    """)

    op.execute(f"""
        do $$ begin
            if not exists (select from pg_roles where rolname = '{WRITER}') then
                create role {WRITER} nologin;
            end if;
        end $$;
        grant {WRITER} to current_user;
        grant usage on schema ops to {WRITER};
        grant insert on {", ".join(f"ops.{t}" for t in APPEND_ONLY)} to {WRITER};
    """)


def downgrade() -> None:
    op.execute(f"revoke all on schema ops from {WRITER}")
    for table in APPEND_ONLY:
        op.execute(f"revoke all on ops.{table} from {WRITER}")
    op.execute("drop index raw.stripe_events_request_idempotency_key")
    for view in ("admin_action_events", "current_fraud_alerts", "current_payment_disputes"):
        op.execute(f"drop view ops.{view}")
    # The hash function takes the table's row type: it goes first, the trigger functions after their tables.
    op.execute("drop function ops.admin_action_hash(text, ops.admin_actions)")
    for table in ("totp_verifications", "user_totp", "reconciliation_resolutions", "fraud_alerts",
                  "payment_disputes", "admin_actions"):
        op.drop_table(table, schema="ops")
    op.execute("drop function ops.reject_change(); drop function ops.admin_actions_chain()")
