"""The Payouts page on the warehouse built end to end: it renders and shows the marts' figures."""

from __future__ import annotations

import sqlalchemy as sa
from streamlit_fixtures import add_app_users
from test_streamlit_pages import metrics, open_page


def test_the_payouts_page_shows_paid_failed_and_reconciliation_figures(pipeline_env):
    with pipeline_env.engine.connect() as conn:
        paid_minor, failed = conn.execute(sa.text(
            "select sum((object ->> 'amount')::bigint) filter (where object ->> 'status' = 'paid'),"
            " count(*) filter (where object ->> 'status' = 'failed') from raw.stripe_payouts where livemode"
        )).one()
        unpaid = conn.execute(sa.text(
            "select currency, sum(amount_minor), count(*) from analytics.payout_reconciliation"
            " where record_type = 'unpaid_transaction' group by currency order by currency"
        )).all()
    # Its own users: under xdist this module may run on a worker where no other page test added them.
    add_app_users(pipeline_env.engine)
    at = open_page("payouts")
    shown = metrics(at)
    assert shown["Paid"] == f"{paid_minor / 100:,.2f} USD"
    assert shown["Failed"] == str(failed) == "1"
    assert shown["Not reconciled"] == "0"
    assert unpaid, "balance transactions not yet paid out"
    assert shown["Not yet paid out"] == ", ".join(f"{minor / 100:,.2f} {code.upper()}" for code, minor, _ in unpaid)
    assert len(at.tabs) == 4
