"""A compliance export with personal data is an audited action: ops.admin_actions accepts `compliance_export`.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

BEFORE = ("refund", "dispute_evidence_save", "dispute_evidence_submit", "dispute_accept", "fraud_flag", "fraud_clear",
          "payment_retry", "reconciliation_resolve")
AFTER = (*BEFORE, "compliance_export")


def _allow(types: tuple[str, ...]) -> None:
    op.drop_constraint("admin_actions_type_known", "admin_actions", schema="ops")
    quoted = ", ".join(f"'{name}'" for name in types)
    op.create_check_constraint("admin_actions_type_known", "admin_actions", f"action_type in ({quoted})", schema="ops")


def upgrade() -> None:
    _allow(AFTER)


def downgrade() -> None:
    _allow(BEFORE)
