"""Stripe's money side: payouts (state from events), balance transactions and payout itemizations (from the API).

raw.stripe_payouts is a state table like the others of 0002: processing keeps each payout's newest state.
Balance transactions have no webhooks: `payops ingest stripe-balance` lists them from Stripe's API into
raw.stripe_api_balance_transactions (one row per txn id, re-listing replaces it), and records which transactions
each paid (or failed) automatic payout carried in raw.stripe_payout_balance_transactions. Its cursor is a row
of ops.ingest_watermarks (source 'stripe.balance_transactions_api'), so it needs no table of its own.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

NOW = sa.text("now()")


def upgrade() -> None:
    op.create_table(
        "stripe_payouts",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("livemode", sa.Boolean, nullable=False),
        sa.Column("object", pg.JSONB, nullable=False, comment="the newest state Stripe sent"),
        sa.Column("last_event_id", sa.Text, nullable=False),
        sa.Column("last_event_created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tiebreak", pg.ARRAY(sa.BigInteger), nullable=False, server_default="{}",
                  comment="orders two states of one second by the object's own fields"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        schema="raw",
        comment="Latest state of each Stripe payout, by event created, never arrival.",
    )
    op.create_index("stripe_payouts_updated_at", "stripe_payouts", ["updated_at"], schema="raw")

    op.create_table(
        "stripe_api_balance_transactions",
        sa.Column("id", sa.Text, primary_key=True, comment="Stripe's txn_ id"),
        sa.Column("livemode", sa.Boolean, nullable=False, comment="the mode of the key that listed it"),
        sa.Column("object", pg.JSONB, nullable=False, comment="the balance transaction as Stripe's API listed it"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, comment="the object's `created`"),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        schema="raw",
        comment="Balance transactions from GET /v1/balance_transactions; a later listing replaces the row.",
    )
    op.create_index("stripe_api_balance_transactions_updated_at", "stripe_api_balance_transactions",
                    ["updated_at"], schema="raw")

    op.create_table(
        "stripe_payout_balance_transactions",
        sa.Column("payout_id", sa.Text, primary_key=True),
        sa.Column("balance_transaction_id", sa.Text, primary_key=True),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        schema="raw",
        comment="Which balance transactions an automatic payout carried (GET /v1/balance_transactions?payout=).",
    )
    op.create_index("stripe_payout_balance_transactions_txn", "stripe_payout_balance_transactions",
                    ["balance_transaction_id"], schema="raw")


def downgrade() -> None:
    op.drop_table("stripe_payout_balance_transactions", schema="raw")
    op.drop_table("stripe_api_balance_transactions", schema="raw")
    op.drop_table("stripe_payouts", schema="raw")
