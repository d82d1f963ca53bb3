"""ops.webhook_event_log.updated_at: when the row was last written, the watermark of the incremental dbt models
built on the log (stg_ops__webhook_event_log, webhook_health).

A log row changes after it is stored (received -> processing -> processed/failed/retrying, retry counts), and
none of its own timestamps says when: processing takes the caller's `now`, which tests move in time, and a
failed attempt sets none. So the database stamps every write itself: an update trigger, whichever writer
updates. Inserts take the column default, now() (the transaction's start, as received_at's default), instead
of the trigger: the loaders COPY a million log rows in a replay, and a BEFORE INSERT row trigger calls a
function for every row and turns off COPY's batched inserts (+1.5 to 2.5 us a row, measured on Postgres 18).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("webhook_event_log", sa.Column("updated_at", sa.DateTime(timezone=True),
                                                 comment="when the row was last written (default and trigger)"),
                  schema="ops")
    # The last write the row's own timestamps show (greatest() skips nulls), never ahead of the clock: processing
    # may have been given a future `now`, and a watermark in the future would hide the writes before it.
    op.execute("""
        update ops.webhook_event_log
        set updated_at = least(greatest(received_at, processing_started_at, processed_at), now())
    """)
    op.alter_column("webhook_event_log", "updated_at", nullable=False, server_default=sa.text("now()"), schema="ops")
    # clock_timestamp(), not now(): the time of the write, not of its transaction's start, so a long processing
    # batch that commits late is not stamped before writes that committed earlier.
    op.execute("""
        create function ops.webhook_event_log_touch() returns trigger language plpgsql as $$
        begin
            new.updated_at := clock_timestamp();
            return new;
        end
        $$
    """)
    op.execute("""
        create trigger webhook_event_log_updated_at before update on ops.webhook_event_log
        for each row execute function ops.webhook_event_log_touch()
    """)
    op.create_index("webhook_event_log_updated_at", "webhook_event_log", ["updated_at"], schema="ops")


def downgrade() -> None:
    op.drop_index("webhook_event_log_updated_at", "webhook_event_log", schema="ops")
    op.execute("drop trigger webhook_event_log_updated_at on ops.webhook_event_log")
    op.execute("drop function ops.webhook_event_log_touch()")
    op.drop_column("webhook_event_log", "updated_at", schema="ops")
