"""Raw landing tables for Stripe events and the platform's rows, plus ingest bookkeeping in ops.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

NOW = sa.text("now()")


def upgrade() -> None:
    for schema in ("raw", "ops", "analytics"):
        op.execute(f"create schema if not exists {schema}")

    op.create_table(
        "stripe_events",
        sa.Column("event_id", sa.Text, primary_key=True, comment="Stripe's evt_ id; a replay of it is a duplicate"),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.Column("api_version", sa.Text, comment="the payload's shape follows it"),
        sa.Column("livemode", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, comment="event.created"),
        sa.Column("object_type", sa.Text, comment="data.object.object"),
        sa.Column("object_id", sa.Text, comment="data.object.id"),
        sa.Column("payload", pg.JSONB, nullable=False, comment="the whole event as Stripe sent it"),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("source", sa.Text, nullable=False, comment="replay | webhook | events_api"),
        schema="raw",
    )
    op.create_index("stripe_events_received_at", "stripe_events", ["received_at"], schema="raw")

    op.create_table(
        "app_rows",
        sa.Column("source_table", sa.Text, primary_key=True),
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("record", pg.JSONB, nullable=False, comment="the row as the platform's database had it"),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        schema="raw",
        comment="The platform's own tables, one JSON record per row, copied by `payops ingest app`.",
    )
    op.create_index("app_rows_loaded_at", "app_rows", ["loaded_at"], schema="raw")

    op.create_table(
        "ingest_watermarks",
        sa.Column("source", sa.Text, primary_key=True),
        sa.Column("watermark", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        schema="ops",
    )
    op.create_table(
        "loaded_files",
        sa.Column("path", sa.Text, primary_key=True),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("mtime_ns", sa.BigInteger, nullable=False),
        sa.Column("loaded", sa.Integer, nullable=False),
        sa.Column("duplicates", sa.Integer, nullable=False),
        sa.Column("rejected", sa.Integer, nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        schema="ops",
        comment="Landing files already replayed, so a scheduled ingest reads only new ones.",
    )
    op.create_table(
        "rejected_records",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("location", sa.Text, nullable=False, comment="file:line, or where else it came from"),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("rejected_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        schema="ops",
        comment="Input that could not be loaded; the record itself is not kept.",
    )


def downgrade() -> None:
    op.drop_table("rejected_records", schema="ops")
    op.drop_table("loaded_files", schema="ops")
    op.drop_table("ingest_watermarks", schema="ops")
    op.drop_table("app_rows", schema="raw")
    op.drop_table("stripe_events", schema="raw")
