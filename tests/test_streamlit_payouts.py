"""The Payouts page on the warehouse built end to end: it renders and shows the marts' figures."""

from __future__ import annotations

import sqlalchemy as sa
from test_streamlit_pages import metrics, open_page


def test_the_payouts_page_shows_paid_failed_and_reconciliation_figures(pipeline_env):
    with pipeline_env.engine.connect() as conn:
        paid_minor, failed = conn.execute(sa.text(
            "select sum((object ->> 'amount')::bigint) filter (where object ->> 'status' = 'paid'),"
            " count(*) filter (where object ->> 'status' = 'failed') from raw.stripe_payouts where livemode"
        )).one()
    at = open_page("payouts")
    shown = metrics(at)
    assert shown["Paid"] == f"{paid_minor / 100:,.2f} USD"
    assert shown["Failed"] == str(failed) == "1"
    assert shown["Not reconciled"] == "0"
    assert len(at.tabs) == 4
