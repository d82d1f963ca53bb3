"""ops.webhook_rejections: deliveries the receiver refused, counted per reason and minute with a few samples.

A flood of junk must neither grow a table by a row a request nor slow real deliveries, so the receiver counts
refusals in memory and adds them here about once a second: one row per (minute, reason), at most
SAMPLES_KEPT samples (the client and the detail, never the body) in each.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "webhook_rejections",
        sa.Column("minute", sa.DateTime(timezone=True), primary_key=True, comment="start of the UTC minute"),
        sa.Column("reason", sa.Text, primary_key=True, comment="the kind of refusal (bad signature, too large, ...)"),
        sa.Column("status", sa.SmallInteger, nullable=False, comment="the HTTP status answered"),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.Column("samples", postgresql.ARRAY(sa.Text), nullable=False,
                  comment="a few 'client: detail' lines of the minute, bounded"),
        schema="ops",
        comment="Webhook deliveries refused, per reason and minute (the receiver's counters).",
    )


def downgrade() -> None:
    op.drop_table("webhook_rejections", schema="ops")
