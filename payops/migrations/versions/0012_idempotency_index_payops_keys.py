"""raw.stripe_events indexes the idempotency keys payops itself sends ("payops-…", actions.service.new_idempotency_key),
not every event's. ops.admin_action_events, the index's only reader, links admin actions to the events they caused
and never looks up another key. Events caused by the platform's own API requests (nearly all of them: 99 % of the
demo's) carry keys too, and indexing those cost a random index insert per stored event, and its share of the full
page images after every checkpoint, for nothing (docs/benchmarks.md, "Replay ingest").

The view states the index's predicate, so the planner may use the partial index.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

KEY = "payload -> 'request' ->> 'idempotency_key'"


def _index_and_view(predicate: str) -> None:
    op.execute("drop index raw.stripe_events_request_idempotency_key")
    op.execute(f"create index stripe_events_request_idempotency_key on raw.stripe_events (({KEY})) where {predicate}")
    op.execute(f"""
        create or replace view ops.admin_action_events as
        select actions.action_id, actions.idempotency_key, events.event_id, events.event_type,
               events.created_at as event_created_at, events.received_at
        from ops.admin_actions actions
        join raw.stripe_events events on events.{KEY} = actions.idempotency_key
        where actions.status = 'requested' and events.{predicate}
    """)


def upgrade() -> None:
    _index_and_view(f"{KEY} like 'payops-%'")


def downgrade() -> None:
    _index_and_view(f"{KEY} is not null")
