"""payops_app_reader: the Postgres role the Streamlit app reads through, able to SELECT and nothing else.

It may read the analytics schema (every mart, now and built later: default privileges of the role that runs the
migrations, which is the role dbt builds with), ops.users (the app's sign-in decides roles from it) and the one ops
view the Webhooks page lists. It owns nothing and may not write, create or truncate anywhere, so a mistake or an
injection in the app cannot change the warehouse. It can log in: on the embedded server (local socket, trust) the
app connects as it directly; on another server give it a password (`alter role payops_app_reader password …`) and
set PAYOPS_APP_WAREHOUSE_URL.

Roles belong to the whole server, not to one database, so the role is created only when missing, and a downgrade
revokes this database's grants but keeps the role, which another database on the server may still use.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

READER = "payops_app_reader"
OPS_RELATIONS = ("ops.users", "ops.failed_webhook_events")


def upgrade() -> None:
    op.execute(f"""
        do $$
        begin
            if not exists (select from pg_roles where rolname = '{READER}') then
                create role {READER} login nosuperuser nocreatedb nocreaterole noinherit;
            end if;
        end
        $$
    """)
    op.execute(f"grant connect on database {_current_database()} to {READER}")
    op.execute(f"grant usage on schema analytics, ops to {READER}")
    op.execute(f"grant select on all tables in schema analytics to {READER}")
    op.execute(f"alter default privileges in schema analytics grant select on tables to {READER}")
    op.execute(f"grant select on {', '.join(OPS_RELATIONS)} to {READER}")


def downgrade() -> None:
    op.execute(f"alter default privileges in schema analytics revoke select on tables from {READER}")
    op.execute(f"revoke select on {', '.join(OPS_RELATIONS)} from {READER}")
    op.execute(f"revoke select on all tables in schema analytics from {READER}")
    op.execute(f"revoke usage on schema analytics, ops from {READER}")
    op.execute(f"revoke connect on database {_current_database()} from {READER}")


def _current_database() -> str:
    return op.get_bind().exec_driver_sql("select quote_ident(current_database())").scalar()
