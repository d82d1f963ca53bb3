"""Fraud alerts and reconciliation resolutions on the marts the pipeline built (no Stripe calls involved)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from actions.errors import ActionInvalid
from actions.fraud import ALERT_THRESHOLD, decide, open_alerts, raise_alerts
from actions.guards import enroll_totp
from actions.reconciliation import open_exceptions, resolve
from actions.service import Actions, new_idempotency_key
from payops.users import add_user

ADMIN = "marts-admin@example.com"


@pytest.fixture(scope="module")
def actions(pipeline):
    built = Actions(pipeline.settings, pipeline.engine)
    add_user(built.engine, ADMIN, "admin", added_by="test")
    enroll_totp(built.engine, built.settings, ADMIN)
    yield built
    built.close()


def count(actions: Actions, sql: str, **params) -> int:
    with actions.engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar_one()


def test_alerts_are_raised_once_per_subject_above_the_threshold_and_leave_the_queue_when_decided(actions):
    expected = count(actions, "select count(*) from analytics.fraud_signals where risk_score >= :t", t=ALERT_THRESHOLD)
    assert expected > 0, "the demo data plants risky customers"
    assert raise_alerts(actions.writer, actions.engine) == expected
    assert raise_alerts(actions.writer, actions.engine) == 0
    queue = open_alerts(actions.engine)
    assert len(queue) == expected and queue[0]["risk_score"] == max(a["risk_score"] for a in queue)

    top = queue[0]
    assert decide(actions, ADMIN, top["entity_type"], top["entity_id"], "dismissed", "known family, bank confirmed",
                  new_idempotency_key()).succeeded
    assert len(open_alerts(actions.engine)) == expected - 1
    assert raise_alerts(actions.writer, actions.engine) == 0, "a decided subject is not raised again"


def test_a_resolved_exception_leaves_the_open_list_and_stays_in_the_history(actions):
    before = open_exceptions(actions.engine)
    assert len(before) == count(actions, "select count(*) from analytics.reconciliation_exceptions") > 0
    first = before[0]
    subject = (first["kind"], first["purchase_transaction_id"], first["charge_id"])
    with pytest.raises(ActionInvalid, match="Say how"):
        resolve(actions, ADMIN, *subject, "  ", new_idempotency_key())
    assert resolve(actions, ADMIN, *subject, "refunded by bank transfer, ticket 123", new_idempotency_key()).succeeded
    after = open_exceptions(actions.engine)
    assert len(after) == len(before) - 1 and first not in after
    with pytest.raises(ActionInvalid, match="already resolved"):
        resolve(actions, ADMIN, *subject, "again", new_idempotency_key())
    kept = "select count(*) from ops.reconciliation_resolutions where note like 'refunded by bank%'"
    assert count(actions, kept) == 1
