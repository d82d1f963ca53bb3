"""ops.alert_conditions, ops.alert_deliveries and ops.refreshes: what the notifier and `payops health` remember.

An alert condition (webhook lag, a new dispute, a failed refresh, ...) is one row while it is open: the partial
unique index makes "one open condition, one alert" a fact of the table, not of a process's memory, so a restarted
daemon does not alert again. Each delivery attempt to each channel is a row, so the Notifications page can show
what reached whom and what is being retried. A refresh records its end and its dbt test results, which health
compares with the freshness policy.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

SEVERITIES = "('info', 'warning', 'error', 'critical')"


def upgrade() -> None:
    op.create_table(
        "alert_conditions",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("key", sa.Text, nullable=False, comment="names the condition, e.g. webhook_lag_p95 or dispute:dp_1"),
        sa.Column("kind", sa.Text, nullable=False, comment="the alert kind: the key up to its first colon"),
        sa.Column("severity", sa.Text, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("details", sa.dialects.postgresql.JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        sa.Column("resolved_at", sa.DateTime(timezone=True), comment="null while the condition is open"),
        sa.CheckConstraint(f"severity in {SEVERITIES}", name="alert_conditions_severity"),
        schema="ops",
    )
    op.create_index("alert_conditions_open_key", "alert_conditions", ["key"], unique=True, schema="ops",
                    postgresql_where=sa.text("resolved_at is null"))
    op.create_table(
        "alert_deliveries",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("condition_id", sa.BigInteger, sa.ForeignKey("ops.alert_conditions.id"), nullable=False),
        sa.Column("transition", sa.Text, nullable=False, comment="opened or resolved"),
        sa.Column("channel", sa.Text, nullable=False, comment="log, email or webhook"),
        sa.Column("attempt", sa.Integer, nullable=False, comment="1 for the first try of this message"),
        sa.Column("delivered", sa.Boolean, nullable=False),
        sa.Column("error", sa.Text, comment="why the attempt failed (never a secret: no URL path, no password)"),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        sa.CheckConstraint("transition in ('opened', 'resolved')", name="alert_deliveries_transition"),
        schema="ops",
    )
    op.create_index("alert_deliveries_condition", "alert_deliveries", ["condition_id", "channel", "transition"],
                    schema="ops")
    op.create_table(
        "refreshes",
        sa.Column("run_id", sa.Text, primary_key=True, comment="the Dagster run"),
        sa.Column("full_build", sa.Boolean, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        sa.Column("succeeded", sa.Boolean, nullable=False),
        sa.Column("tests_failed", sa.Integer, nullable=False, comment="dbt tests that errored or failed"),
        sa.Column("tests_warned", sa.Integer, nullable=False),
        sa.Column("failures", sa.dialects.postgresql.JSONB, nullable=False, server_default=sa.text("'[]'::jsonb"),
                  comment="the failed dbt nodes' names"),
        schema="ops",
    )
    op.create_index("refreshes_finished_at", "refreshes", ["finished_at"], schema="ops")


def downgrade() -> None:
    op.drop_table("refreshes", schema="ops")
    op.drop_table("alert_deliveries", schema="ops")
    op.drop_table("alert_conditions", schema="ops")
