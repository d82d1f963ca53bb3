"""A compliance export with personal data is an audited action: ops.admin_actions accepts `compliance_export`.
And the app's read-only role may read the notifier's tables, which the Notifications page shows, and again
ops.failed_webhook_events, which 0010 recreated (a recreated view loses its grants).

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


READABLE = "ops.alert_conditions, ops.alert_deliveries, ops.failed_webhook_events"
READER = "payops_app_reader"


def upgrade() -> None:
    _allow(AFTER)
    op.execute(f"grant select on {READABLE} to {READER}")


def downgrade() -> None:
    op.execute(f"revoke select on ops.alert_conditions, ops.alert_deliveries from {READER}")
    _allow(BEFORE)
