"""Every page of the dashboard on the warehouse built end to end: each renders without an exception and shows the
figures the marts hold; the figures that used to mislead now tell the truth."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from datetime import date, timedelta

import pandas as pd
import pytest
import sqlalchemy as sa
from pyarrow import ipc
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient
from streamlit.testing.v1 import AppTest
from streamlit_fixtures import ANALYST, APP_PATH, DISABLED, add_app_users, signed_in

from payops.users import User, disable_user

pytest_plugins = ["streamlit_fixtures"]

PAGES = ["overview", "revenue", "failures", "disputes", "refunds", "transactions", "students", "reconciliation",
         "fraud", "webhooks", "system_health"]


@pytest.fixture(scope="module")
def app_users(pipeline):
    add_app_users(pipeline.engine)


@pytest.fixture
def app(pipeline_env, app_users):
    return pipeline_env


def open_page(page: str, **query: str) -> AppTest:
    at = AppTest.from_file(str(APP_PATH), default_timeout=60)
    at.user = signed_in(ANALYST)
    at.query_params.update(query)
    at.run()
    if page != "overview":
        at.switch_page(f"views/{page}.py").run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def tables_with(at_or_block, column: str) -> list:
    """The frames shown whose columns include `column`, in page order."""
    return [frame.value for frame in at_or_block.dataframe if column in frame.value.columns]


def scalar(pipeline, sql: str, **params):
    with pipeline.engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar()


def rows(pipeline, sql: str, **params) -> list[tuple]:
    with pipeline.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(sa.text(sql), params)]


def last_30_days(pipeline) -> tuple[date, date]:
    last_day = scalar(pipeline, "select max(day) from analytics.payments_daily where livemode")
    return last_day - timedelta(days=29), last_day


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_in_test_mode_too(app, page):
    # Live mode is what the tests below open; `open_page` asserts that no exception was raised.
    at = open_page(page, mode="test")
    assert at.segmented_control(key="g_mode").value == "Test"


def test_failures_shows_the_top_failure_code_share_of_the_default_range(app):
    first_day, last_day = last_30_days(app)
    range_ = {"first_day": first_day, "last_day": last_day}
    currency = scalar(app, """
        select currency from analytics.failure_analysis
        where livemode and dimension = 'failure_code' and day between :first_day and :last_day
        group by currency order by sum(failed_attempts) desc, currency limit 1""", **range_)
    failed, top = (scalar(app, f"""
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


def test_a_spike_needs_the_configured_minimum_of_failures(app):
    # Misleading before: 3 failures out of 3 was a "spike". The demo has such small jumps ...
    small_jumps = scalar(app, """
        select count(*) from analytics.failure_analysis
        where failed_attempts between 3 and 9 and share > 2 * coalesce(baseline_share, 0)""")
    assert small_jumps > 0
    # ... and none of them is a spike now: the minimum is 10, written on every row.
    assert scalar(app, "select count(*) from analytics.failure_analysis where is_spike and failed_attempts < 10") == 0
    assert scalar(app, "select min(spike_min_failed_attempts) from analytics.failure_analysis") == 10
    at = open_page("failures")
    assert "at least 10 failures" in next(m.help for m in at.metric if m.label == "Spikes")


def test_evidence_past_due_leaves_out_disputes_already_under_review(app):
    # Misleading before: a dispute under review whose deadline passed counted as "evidence past due".
    under_review_past_deadline = scalar(app, """
        select count(*) from analytics.fct_disputes
        where livemode and outcome = 'open' and status like '%under_review' and evidence_due_by < now()""")
    assert under_review_past_deadline > 0, "the demo data has an open dispute under review past its deadline"
    past_due = scalar(app, """
        select count(*) from analytics.fct_disputes where livemode and outcome = 'open'
        and status in ('needs_response', 'warning_needs_response') and evidence_due_by < now()""")
    open_ids = [row[0] for row in rows(app, """
        select dispute_id from analytics.fct_disputes where livemode and outcome = 'open'
        order by evidence_due_by nulls last, dispute_id""")]

    at = open_page("disputes")
    shown = metrics(at)
    assert shown["Evidence past due"] == str(past_due)
    assert shown["Open disputes"] == str(len(open_ids))
    listed = [dispute for table in tables_with(at, "dispute_id") for dispute in table["dispute_id"]]
    assert sorted(listed) == sorted(open_ids)
    assert int(shown["Under review"]) >= under_review_past_deadline


def test_a_month_the_data_covers_in_part_is_marked_not_plotted_as_a_fall(app):
    # Misleading before: the demo's one day of May plotted as a dispute ratio of 0 %, and a monthly revenue collapse.
    [(days, partial, ratio)] = rows(app, """
        select days_covered, is_partial_month, program_ratio from analytics.dispute_metrics
        where livemode and network = 'visa' and month = date '2026-05-01'""")
    assert (days, partial, ratio) == (1, True, 0)
    may = rows(app, """select days_covered, is_partial from analytics.revenue_trends
                       where period_type = 'month' and period_start = date '2026-05-01' group by 1, 2""")
    assert may == [(1, True)]
    assert scalar(app, "select bool_or(is_partial) from analytics.revenue_trends where period_start = '2026-06-01' "
                       "and period_type = 'month'") is False

    at = open_page("disputes", **{"from": "2026-05-31"})
    [chart] = at.get("vega_lite_chart")
    spec = json.loads(chart.proto.spec)
    plotted_months = {
        row["month"][:7] for dataset in spec.get("datasets", {}).values() for row in dataset if "month" in row
    }
    assert "2026-05" not in plotted_months


def test_reconciliation_shows_both_values_with_their_currency_and_the_amount_at_stake(app):
    total = scalar(app, "select count(*) from analytics.reconciliation_exceptions where livemode")
    assert total == len(app.demo.disagreements) == 3

    at = open_page("reconciliation")
    assert metrics(at)["All exceptions"] == "3"
    table = at.dataframe[0].value
    assert len(table) == 3
    # Misleading before: "App says 48.750 / Stripe says 43.875", no currency and nothing at stake.
    mismatch = table[table["kind"] == "Amount mismatch"].iloc[0]
    assert (mismatch["app_value"], mismatch["stripe_value"], mismatch["at_stake"]) == (
        "48.750 KWD", "43.875 KWD", "4.875 KWD")
    assert mismatch["detail"].startswith("transactions?charge=ch_")
    at.multiselect(key="kinds").set_value(["amount_mismatch"]).run()
    assert at.dataframe[0].value["kind"].tolist() == ["Amount mismatch"]


def test_webhooks_lag_is_measured_on_webhook_deliveries_only(app):
    by_source = dict(rows(app, "select source, count(*) from raw.stripe_events group by source"))
    assert set(by_source) == {"replay"}, "the pipeline loads files: every event is a replay"

    shown = metrics(open_page("webhooks"))
    # Misleading before: replayed files counted as deliveries, and their age read as a lag of weeks.
    assert shown["Replayed"] == f"{by_source['replay']:,}"
    assert shown["Webhook deliveries"] == "0"
    assert shown["Webhook lag p50"] == shown["Webhook lag p95"] == "n/a"
    assert shown["Failed, all time"] == f"{scalar(app, 'select count(*) from ops.failed_webhook_events'):,}"


def test_overview_charts_gross_refunds_dispute_losses_and_net_in_distinct_colours(app):
    at = open_page("overview")
    spec = json.loads(at.get("vega_lite_chart")[0].proto.spec)
    scale = spec["encoding"]["color"]["scale"]
    assert scale["domain"] == ["Gross", "Refunds", "Dispute losses", "Net"]
    assert len(set(scale["range"])) == 4


def test_revenue_lists_the_marts_weeks_with_the_partial_ones_marked(app):
    first_day, last_day = last_30_days(app)
    currency = scalar(app, "select currency from analytics.payments_daily where livemode group by 1 "
                           "order by sum(charge_attempts) desc, 1 limit 1")
    expected = rows(app, """
        select period_start, is_partial, net_amount::float8 from analytics.revenue_trends
        where livemode and period_type = 'week' and currency = :currency
          and period_end >= :first_day and period_start <= :last_day order by period_start""",
        currency=currency, first_day=first_day, last_day=last_day)
    at = open_page("revenue")
    assert not at.get_by_key(f"revenue-{currency}").dataframe, "the figures are read only once opened"
    at.session_state[f"figures-{currency}"] = True  # what opening the expander sets
    table = at.run().get_by_key(f"revenue-{currency}").dataframe[0].value
    assert [(row.period_start.date(), row.is_partial, row.net) for row in table.itertuples()] == expected
    assert any(partial for _, partial, _ in expected)


def test_revenue_points_carry_the_marts_growth_while_the_table_is_closed(app):
    first_day, last_day = last_30_days(app)
    currency = scalar(app, "select currency from analytics.payments_daily where livemode group by 1 "
                           "order by sum(charge_attempts) desc, 1 limit 1")
    expected = {
        (period_start, measure): growth for period_start, measure, growth in rows(app, """
            select period_start, measure, growth
            from analytics.revenue_trends,
                lateral (values ('Gross', gross_growth_rate::float8), ('Net', net_growth_rate::float8))
                    as by_measure (measure, growth)
            where livemode and period_type = 'week' and currency = :currency
              and period_end >= :first_day and period_start <= :last_day""",
            currency=currency, first_day=first_day, last_day=last_day)}
    assert any(growth is not None for growth in expected.values())

    [chart] = open_page("revenue").get_by_key(f"revenue-{currency}").get("vega_lite_chart")
    spec = json.dumps(json.loads(chart.proto.spec))
    assert '"title": "Growth"' in spec
    frames = [ipc.open_stream(dataset.data.data).read_pandas() for dataset in chart.proto.datasets]
    points = next(frame for frame in frames if "growth" in frame.columns)
    shown = {(row.period_start.date(), row.measure): None if pd.isna(row.growth) else row.growth
             for row in points.itertuples()}
    assert shown == expected


def test_refunds_total_and_share_equal_the_marts(app):
    first_day, last_day = last_30_days(app)
    currency, refunded, count = rows(app, """
        select currency, sum(amount_minor), count(*) from analytics.fct_refunds
        where livemode and refunded_day between :first_day and :last_day
        group by currency order by currency limit 1""", first_day=first_day, last_day=last_day)[0]
    gross = scalar(app, "select sum(gross_amount_minor) from analytics.payments_daily where livemode "
                        "and currency = :currency and day between :first_day and :last_day",
                   currency=currency, first_day=first_day, last_day=last_day)
    block = {m.label: m.value for m in open_page("refunds").get_by_key(f"refunds-{currency}").metric}
    assert block["Refunds"] == f"{count:,}"
    assert block["Share of gross refunded"] == f"{refunded / gross:.1%}"


def test_transactions_count_pages_detail_and_csv_equal_sql(app):
    first_day, last_day = last_30_days(app)
    expected = [row[0] for row in rows(app, """
        select charge_id from analytics.fct_charges where livemode and created_day between :first_day and :last_day
        order by created_at desc, charge_id desc""", first_day=first_day, last_day=last_day)]
    at = open_page("transactions")
    [page] = tables_with(at, "family_email")
    assert page["charge_id"].tolist() == expected[:50]
    assert f"{len(expected):,} live-mode charge(s)" in at.caption[0].value

    [link] = [button.proto.url for button in at.get("link_button") if "as CSV" in button.proto.label]
    downloaded = csv_route().get(f"/{link}")
    assert downloaded.status_code == 200, downloaded.text
    assert [row["charge_id"] for row in csv.DictReader(io.StringIO(downloaded.text))] == expected

    charge = expected[0]
    at = open_page("transactions", charge=charge)
    [events] = tables_with(at, "ingest_channel")
    assert set(events["event_id"]) == {row[0] for row in rows(
        app, "select event_id from raw.stripe_events where object_id = :charge_id "
             "or payload -> 'data' -> 'object' ->> 'charge' = :charge_id "
             "or payload -> 'data' -> 'object' ->> 'latest_charge' = :charge_id", charge_id=charge)}


def csv_route() -> TestClient:
    """The route server.py mounts for the Transactions page's CSV, on its own."""
    import downloads  # streamlit_app/ is on sys.path once AppTest has run the app

    return TestClient(Starlette(routes=[Route(f"/{downloads.TRANSACTIONS_CSV_PATH}", downloads.transactions_csv)]))


def test_the_csv_route_refuses_forged_expired_and_disabled_users_links(app, monkeypatch):
    open_page("transactions")  # puts streamlit_app/ on sys.path
    import data
    import downloads

    search = data.TransactionSearch(livemode=True, first_day=date(2000, 1, 1), last_day=date(2100, 1, 1))
    analyst, disabled = (User(email, "analyst", True, "tests", None) for email in (ANALYST, DISABLED))
    link = downloads.transactions_csv_link(analyst, search, "charges.csv")
    route = csv_route()
    assert route.get(f"/{link}").status_code == 200
    forged = route.get(f"/{link[:-3]}{'AAA' if not link.endswith('AAA') else 'BBB'}")
    assert (forged.status_code, "not a download link" in forged.text) == (403, True)
    disable_user(app.engine, DISABLED)  # already disabled: the link was signed for someone who may not download
    refused = route.get(f"/{downloads.transactions_csv_link(disabled, search, 'charges.csv')}")
    assert (refused.status_code, f"{DISABLED} may no longer use payops" in refused.text) == (403, True)
    monkeypatch.setattr(downloads, "LINK_MAX_AGE_SECONDS", -1)
    expired = route.get(f"/{link}")
    assert (expired.status_code, "expired" in expired.text) == (403, True)


@pytest.mark.parametrize("text", ["' or 1=1 --", "%", "_", "x'; drop table analytics.fct_charges; --", "\\", "ch_%"])
def test_search_inputs_with_sql_metacharacters_find_nothing_extra(app, text):
    at = open_page("transactions")
    at.text_input(key="search-text").set_value(text).run()
    assert not at.exception, [e.message for e in at.exception]
    assert "No live-mode charge matches" in at.info[0].value
    assert scalar(app, "select count(*) from analytics.fct_charges") > 0


def charges_of_the_default_range(pipeline) -> list[dict]:
    """Every live charge of the page's default range with its student, newest first, as plain rows."""
    first_day, last_day = last_30_days(pipeline)
    with pipeline.engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(sa.text("""
            select charges.charge_id, charges.payment_intent_id, charges.customer_id, charges.student_id,
                   charges.status, students.student_name, students.student_email, students.family_email
            from analytics.fct_charges as charges
            left join analytics.dim_students as students on students.student_id = charges.student_id
            where charges.livemode and charges.created_day between :first_day and :last_day
            order by charges.created_at desc, charges.charge_id desc"""),
            {"first_day": first_day, "last_day": last_day})]


def found_by(charges: list[dict], text: str, status: str | None = None) -> list[str]:
    """The search's meaning in plain Python: an id equal to the text, else (no id equal) a name or email containing
    it, whatever the case."""
    ids = ("charge_id", "payment_intent_id", "customer_id", "student_id")
    by_id = [charge for charge in charges if text in (charge[field] for field in ids)]
    by_person = [charge for charge in charges if any(
        text.lower() in (charge[field] or "").lower() for field in ("student_name", "student_email", "family_email"))]
    return [charge["charge_id"] for charge in by_id or by_person if status is None or charge["status"] == status]


@pytest.mark.parametrize("what", ["family name", "family name, failed only", "part of an email", "customer id"])
def test_search_by_text_finds_what_plain_python_finds(app, what):
    charges = charges_of_the_default_range(app)
    # The most common family name among the range's students, and any student's email minus its first letter.
    names = Counter(charge["student_name"].split()[-1] for charge in charges if charge["student_name"])
    text = {"family name": names.most_common(1)[0][0].upper(), "family name, failed only": names.most_common(1)[0][0],
            "part of an email": charges[0]["family_email"].split("@")[0][1:],
            "customer id": charges[-1]["customer_id"]}[what]
    status = "failed" if "failed" in what else None
    expected = found_by(charges, text, status)
    assert expected, f"nothing to find for {text!r}"

    at = open_page("transactions")
    at.text_input(key="search-text").set_value(text)
    if status:
        at.selectbox(key="search-status").set_value(status)
    at.run()
    [page] = tables_with(at, "family_email")
    assert page["charge_id"].tolist() == expected[:50]
    assert f"{len(expected):,} live-mode charge(s)" in at.caption[0].value


def test_a_student_is_found_by_part_of_their_email_with_their_summary(app):
    student_id, name, email = rows(app, "select student_id, student_name, student_email from analytics.dim_students "
                                        "where student_id in (select student_id from analytics.student_payment_summary "
                                        "where livemode) order by student_id limit 1")[0]
    hours = scalar(app, "select sum(hours_purchased)::float8 from analytics.student_payment_summary "
                        "where student_id = :student_id and livemode", student_id=student_id)
    at = open_page("students")
    at.text_input(key="student-search").set_value(email.split("@")[0].upper()).run()
    assert at.selectbox(key="student-choice").value == student_id
    assert at.subheader[0].value == name
    assert f"{hours:,.1f}" in [m.value for m in at.metric if m.label == "Hours bought"]


def test_fraud_signals_counts_equal_the_mart(app):
    counts = dict(rows(app, "select entity_type, count(*) from analytics.fraud_signals group by 1"))
    shown = metrics(open_page("fraud"))
    assert shown["Customers scored"] == f"{counts.get('customer', 0):,}"
    assert shown["Charges scored"] == f"{counts.get('charge', 0):,}"


def test_fraud_signals_lists_the_riskiest_first_and_no_more_than_asked(app):
    open_page("fraud")  # puts streamlit_app/ on sys.path
    import data

    scored = rows(app, "select entity_id, risk_score from analytics.fraud_signals where entity_type = 'charge'")
    assert len(scored) > 3, "charges to choose from"
    riskiest = data.fraud_signals(app.settings, "charge", limit=3)
    assert riskiest["risk_score"].tolist() == sorted((score for _, score in scored), reverse=True)[:3]
    assert set(zip(riskiest["entity_id"], riskiest["risk_score"], strict=True)) <= set(scored)


def test_system_health_reads_the_warehouse_and_dagster(app):
    at = open_page("system_health")
    shown = metrics(at)
    assert shown["Warehouse"] == "reachable"
    assert shown["dbt tests of the last run"].endswith("passed")
    assert "***" in at.caption[0].value or "postgres" in at.caption[0].value
