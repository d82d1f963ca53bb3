"""The Notifications page on the warehouse built end to end: the refresh's mart alerts are the open conditions it
shows, and the log channel's deliveries are counted per channel."""

from __future__ import annotations

from streamlit_fixtures import add_app_users

from tests.test_streamlit_pages import metrics, open_page, scalar


def test_notifications_shows_the_open_conditions_and_the_delivery_per_channel(pipeline_env):
    open_conditions = scalar(pipeline_env, "select count(*) from ops.alert_conditions where resolved_at is null")
    exceptions = scalar(pipeline_env, "select count(distinct (kind, coalesce(purchase_transaction_id, charge_id, "
                        "payment_intent_id))) from analytics.reconciliation_exceptions")
    assert exceptions > 0, "the demo data plants reconciliation disagreements"
    assert scalar(pipeline_env, "select count(*) from ops.alert_conditions where resolved_at is null "
                  "and kind = 'reconciliation'") == exceptions, "each exception is one open condition"

    # Its own users: under xdist this module may run on a worker where no other page test added them.
    add_app_users(pipeline_env.engine)
    at = open_page("notifications")

    assert metrics(at)["Open conditions"] == f"{open_conditions:,}"
    [channels, open_table, *_] = at.dataframe
    delivery = channels.value.set_index("channel")
    assert int(delivery.loc["log", "delivered"]) == scalar(
        pipeline_env, "select count(*) from ops.alert_deliveries where channel = 'log' and delivered")
    assert len(open_table.value) == open_conditions
