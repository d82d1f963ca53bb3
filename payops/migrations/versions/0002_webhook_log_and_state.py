"""The webhook event log (the origin plan's WebhookEventLog) and per-object Stripe state tables.

Every stored event, whatever its source (webhook, Events API, replay), gets a log row and goes through
the same processing into the state tables, so there is one path from an event to a figure.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

NOW = sa.text("now()")
STATUSES = ("received", "processing", "processed", "failed", "retrying")
STATE_TABLES = ("charges", "payment_intents", "refunds", "disputes", "balance_transactions")


def upgrade() -> None:
    op.add_column("stripe_events", sa.Column("raw_body", sa.Text, comment="the exact bytes a webhook delivered"),
                  schema="raw")
    op.add_column("stripe_events", sa.Column("headers", pg.JSONB, comment="the webhook delivery's HTTP headers"),
                  schema="raw")

    op.create_table(
        "webhook_event_log",
        sa.Column("event_id", sa.Text, sa.ForeignKey("raw.stripe_events.event_id"), primary_key=True),
        sa.Column("status", sa.Text, nullable=False, server_default="received"),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("processing_started_at", sa.DateTime(timezone=True)),
        sa.Column("processed_at", sa.DateTime(timezone=True)),
        sa.Column("processing_ms", sa.Float, comment="duration of the last processing attempt"),
        sa.Column("error_message", sa.Text),
        sa.Column("retry_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_retry_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint(f"status in {STATUSES}", name="webhook_event_log_status"),
        schema="ops",
        comment="Processing state of every stored Stripe event: the origin plan's WebhookEventLog.",
    )
    # The processing queue: what is due, oldest first.
    op.create_index("webhook_event_log_due", "webhook_event_log", ["status", "next_retry_at"], schema="ops",
                    postgresql_where=sa.text("status in ('received', 'retrying', 'processing')"))
    op.create_index("webhook_event_log_received_at", "webhook_event_log", ["received_at"], schema="ops")
    op.create_index("webhook_event_log_failed", "webhook_event_log", ["received_at"], schema="ops",
                    postgresql_where=sa.text("status = 'failed'"))

    op.execute("""
        create view ops.webhook_events as
        select log.event_id, events.event_type, events.api_version, events.livemode, log.status,
               events.payload, events.created_at as event_created_at, log.received_at, log.processing_started_at,
               log.processed_at, log.processing_ms, log.error_message, log.retry_count, log.next_retry_at,
               events.source
        from ops.webhook_event_log log
        join raw.stripe_events events using (event_id)
    """)
    op.execute("create view ops.failed_webhook_events as select * from ops.webhook_events where status = 'failed'")
    op.execute("""
        create view ops.retryable_webhook_events as
        select * from ops.webhook_events where status = 'retrying' and next_retry_at <= now()
    """)
    op.execute("""
        create view ops.recent_webhook_events as
        select * from ops.webhook_events where received_at >= now() - interval '24 hours'
    """)

    for name in STATE_TABLES:
        op.create_table(
            f"stripe_{name}",
            sa.Column("id", sa.Text, primary_key=True),
            sa.Column("livemode", sa.Boolean, nullable=False),
            sa.Column("object", pg.JSONB, nullable=False, comment="the newest state Stripe sent"),
            sa.Column("last_event_id", sa.Text, nullable=False),
            sa.Column("last_event_created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("tiebreak", pg.ARRAY(sa.BigInteger), nullable=False, server_default="{}",
                      comment="orders two states of one second by the object's own fields"),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
            schema="raw",
            comment=f"Latest state of each Stripe {name.replace('_', ' ')[:-1]}, by event created, never arrival.",
        )
        op.create_index(f"stripe_{name}_updated_at", f"stripe_{name}", ["updated_at"], schema="raw")


def downgrade() -> None:
    for name in STATE_TABLES:
        op.drop_table(f"stripe_{name}", schema="raw")
    for view in ("recent_webhook_events", "retryable_webhook_events", "failed_webhook_events", "webhook_events"):
        op.execute(f"drop view ops.{view}")
    op.drop_table("webhook_event_log", schema="ops")
    op.drop_column("stripe_events", "headers", schema="raw")
    op.drop_column("stripe_events", "raw_body", schema="raw")
