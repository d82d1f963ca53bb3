"""ops.users: who may open the app, and as what (`analyst` reads, `admin` also acts).

Sign-in (OpenID Connect) proves an identity; this table decides what that identity may do. Emails are stored
lower-cased (the check enforces it) because identity providers differ in the case they return. A user is never
deleted, only disabled, so the audit trail's references to them stay meaningful.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("email", sa.Text, primary_key=True, comment="lower-cased, as the identity provider proves it"),
        sa.Column("role", sa.Text, nullable=False, comment="analyst (reads) or admin (reads and acts)"),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true(),
                  comment="false: signed-in but refused, as if unknown"),
        sa.Column("added_by", sa.Text, nullable=False, comment="who added the user (an email, or cli:<os user>)"),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        sa.CheckConstraint("role in ('analyst', 'admin')", name="users_role_known"),
        sa.CheckConstraint("email = lower(email) and position('@' in email) > 1", name="users_email_normalized"),
        schema="ops",
    )


def downgrade() -> None:
    op.drop_table("users", schema="ops")
