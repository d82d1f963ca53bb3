"""The dashboard's pages on the warehouse built end to end: each renders, and shows the figure the mart holds."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

APP = Path(__file__).resolve().parents[1] / "streamlit_app" / "app.py"


def open_page(page: str):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.switch_page(f"views/{page}.py").run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def scalar(pipeline, sql: str, **params):
    with pipeline.engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar()


@pytest.mark.parametrize("page", ["failures", "disputes", "webhooks", "reconciliation"])
def test_the_page_renders_in_test_mode_too(pipeline_env, page):
    at = open_page(page)
    if page != "webhooks":  # the event log has no mode
        at.segmented_control(key="mode").set_value("Test").run()
        assert not at.exception, [e.message for e in at.exception]


def test_failures_shows_the_top_failure_code_share_of_the_default_range(pipeline_env):
    last_day = scalar(pipeline_env, "select max(day) from analytics.payments_daily where livemode")
    first_day = last_day - timedelta(days=29)
    range_ = {"first_day": first_day, "last_day": last_day}
    currency = scalar(pipeline_env, """
        select currency from analytics.failure_analysis
        where livemode and dimension = 'failure_code' and day between :first_day and :last_day
        group by currency order by sum(failed_attempts) desc, currency limit 1""", **range_)
    failed, top = (scalar(pipeline_env, f"""
        select {figure} from analytics.failure_analysis
        where livemode and dimension = 'failure_code' and currency = :currency and day between :first_day and :last_day
        group by dimension_value order by sum(failed_attempts) desc, dimension_value limit 1""",
        currency=currency, **range_)
        for figure in ("sum(sum(failed_attempts)) over ()", "sum(failed_attempts)"))
    assert failed and top

    at = open_page("failures")
    assert at.selectbox(key="currency").value == currency
    shown = metrics(at)
    assert shown["Failed attempts"] == f"{failed:,}"
    assert shown["Top failure code share"] == f"{top / failed:.1%}"


def test_disputes_lists_every_open_dispute_soonest_deadline_first(pipeline_env):
    with pipeline_env.engine.connect() as conn:
        open_ids = conn.execute(sa.text(
            "select dispute_id from analytics.fct_disputes where livemode and outcome = 'open' "
            "order by evidence_due_by nulls last, dispute_id")).scalars().all()
    assert open_ids, "the demo data has open disputes"

    at = open_page("disputes")
    assert metrics(at)["Open disputes"] == str(len(open_ids))
    tables = {tuple(df.value.columns): df.value for df in at.dataframe}
    opened = next(table for columns, table in tables.items() if "dispute_id" in columns)
    assert opened["dispute_id"].tolist() == open_ids
    monthly = next(table for columns, table in tables.items() if "threshold_status" in columns)
    assert len(monthly) == scalar(pipeline_env, "select count(*) from analytics.dispute_metrics where livemode")


def test_webhooks_counts_the_failed_events_and_the_last_days_arrivals(pipeline_env):
    failed = scalar(pipeline_env, "select count(*) from ops.failed_webhook_events")
    received = scalar(pipeline_env, "select count(*) from ops.webhook_event_log "
                                    "where received_at >= date_trunc('hour', now()) - interval '23 hours'")
    assert received, "the refresh loaded the demo events within the hour"

    shown = metrics(open_page("webhooks"))
    assert shown["Failed, all time"] == f"{failed:,}"
    assert shown["Received"] == f"{received:,}"


def test_reconciliation_shows_the_planted_disagreements(pipeline_env):
    total = scalar(pipeline_env, "select count(*) from analytics.reconciliation_exceptions where livemode")
    assert total == len(pipeline_env.demo.disagreements) == 3

    at = open_page("reconciliation")
    assert metrics(at)["All exceptions"] == "3"
    assert len(at.dataframe[0].value) == 3
    at.multiselect(key="kinds").set_value(["amount_mismatch"]).run()
    assert at.dataframe[0].value["kind"].tolist() == ["Amount mismatch"]
