"""The notebook reports on the warehouse built end to end: each report's Dagster asset renders June 2026 in-process
once, and its files are checked against figures computed in plain Python from the generated event files."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import dagster as dg
import nbformat
import pytest
from click.testing import CliRunner
from conftest import TIMEZONE, environment
from oracle import expected_payments_daily, read_events
from oracle_finance import expected_payments_daily_settlement, read_balance
from oracle_marts import expected_fct_disputes, expected_fct_payment_intents, major

from payops.reports import REPORTS, output_dir, render

PERIOD = "2026-06"
JUNE = (date(2026, 6, 1), date(2026, 7, 1))
CHARTS = {"monthly_payments_review": 3, "dispute_risk_review": 2, "webhook_reliability": 0}
"""At least this many charts in each report's June HTML (the event log's June is empty: every event was received
when the test pipeline ran)."""


def in_june(day: date) -> bool:
    return JUNE[0] <= day < JUNE[1]


@pytest.fixture(scope="module")
def events(pipeline) -> list[dict]:
    return read_events([pipeline.demo.out_dir])


@pytest.fixture(scope="module")
def materialized(pipeline):
    """One run materializing the June partition of every report asset, as Dagster's automation would."""
    from dagster_project.defs.reports.assets import built_marts, report_asset
    from dagster_project.defs.resources import WarehouseResource

    with environment(**pipeline.env):
        marts = built_marts()
        assets = [report_asset(report, marts) for report in REPORTS.values()]
        result = dg.materialize(assets, partition_key=f"{PERIOD}-01",
                                resources={"warehouse": WarehouseResource(payops_home=str(pipeline.settings.home))})
    assert result.success
    return result


def files(pipeline, report: str, variant: str = PERIOD) -> dict:
    folder = output_dir(pipeline.settings, report)
    return {suffix: folder / f"{variant}.{suffix}" for suffix in ("html", "ipynb", "json")}


def test_each_report_asset_materializes_its_june_partition_and_writes_its_files(pipeline, materialized):
    keys = {event.asset_key.path[-1] for event in materialized.get_asset_materialization_events()}
    assert keys == set(REPORTS)
    for report in REPORTS:
        written = files(pipeline, report)
        assert all(path.stat().st_size > 0 for path in written.values()), written
        executed = nbformat.read(written["ipynb"], as_version=4)
        injected = next(cell for cell in executed.cells if "injected-parameters" in cell.metadata.get("tags", []))
        assert f'period = "{PERIOD}"' in injected.source and f'timezone = "{TIMEZONE}"' in injected.source


@pytest.mark.parametrize("report", list(REPORTS))
def test_the_html_has_no_code_no_error_output_and_embeds_its_charts(pipeline, materialized, report):
    written = files(pipeline, report)
    executed = nbformat.read(written["ipynb"], as_version=4)
    outputs = [output for cell in executed.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error" or o.get("name") == "stderr"]
    html = written["html"].read_text()
    assert 'data-mime-type="application/vnd.jupyter.stderr"' not in html and "Traceback" not in html
    assert "read_mart" not in html, "code cells are hidden"
    assert html.count('src="data:image/png;base64,') >= CHARTS[report]
    charts_in_notebook = sum("image/png" in o.get("data", {}) for o in outputs)
    assert html.count('src="data:image/png;base64,') == charts_in_notebook


def test_monthly_review_figures_equal_the_events(pipeline, materialized, events):
    figures = json.loads(files(pipeline, "monthly_payments_review")["json"].read_text())
    expected: dict[str, Counter] = defaultdict(Counter)
    for (day, currency, livemode), f in expected_payments_daily(events, TIMEZONE).items():
        if livemode and in_june(day):
            for name in ("net_amount_minor", "gross_amount_minor", "refunded_amount_minor", "charge_attempts",
                         "charges_succeeded"):
                expected[name][currency] += getattr(f, name)
    assert expected["net_amount_minor"], "the test data has June live-mode payments"
    for figure in ("net_amount", "gross_amount", "refunded_amount"):
        name = f"{figure}_minor"
        recorded = figures[figure]
        assert {c for c, v in expected[name].items() if v} <= set(recorded)
        # Decimal strings, in each currency's own decimals ('618.375' kwd, '28000' jpy)
        assert recorded == {c: str(major(expected[name][c], c)) for c in recorded}, figure
    for name in ("charge_attempts", "charges_succeeded"):
        assert {c: n for c, n in figures[name].items() if n} == dict(+expected[name]), name

    intents = [row for row in expected_fct_payment_intents(events, TIMEZONE).values()
               if row["livemode"] and in_june(row["created_day"])]
    assert figures["payment_intents"] == dict(Counter(row["currency"] for row in intents))
    succeeded = Counter(row["currency"] for row in intents if row["final_status"] == "succeeded")
    assert {c: n for c, n in figures["payment_intents_succeeded"].items() if n} == dict(succeeded)
    assert figures["fraud_signals"] == len(fraud_rules_fired(pipeline)), "counted in Postgres, every entity"


def test_monthly_review_fees_are_in_the_settlement_currency_and_exact(pipeline, materialized, events):
    balance = read_balance(pipeline.settings.stripe_balance_landing_dir)
    settlement = {txn["currency"] for txn in balance.listed}
    assert len(settlement) == 1, "the demo account settles in one currency"
    fees = sum(row["fee_amount_minor"] for (day, _, _), row in
               expected_payments_daily_settlement(events, balance, TIMEZONE).items() if in_june(day))
    assert fees, "the test data has June fees"
    figures = json.loads(files(pipeline, "monthly_payments_review")["json"].read_text())
    # One figure for the settlement currency (fees of charges in every presentment currency), a decimal string.
    assert figures["fee_amount"] == {code: str(major(fees, code)) for code in settlement}


def test_dispute_review_figures_equal_the_events(pipeline, materialized, events):
    figures = json.loads(files(pipeline, "dispute_risk_review")["json"].read_text())
    disputes = [row for row in expected_fct_disputes(events, TIMEZONE).values() if row["livemode"]]
    assert figures["disputes_opened"] == dict(Counter(r["currency"] for r in disputes if in_june(r["created_day"])))
    still_open = [r for r in disputes if r["outcome"] == "open"]
    assert figures["open_disputes"] == len(still_open)
    open_amount: Counter = Counter()
    for row in still_open:
        open_amount[row["currency"]] += row["amount_minor"]
    assert figures["open_dispute_amount"] == {c: str(major(v, c)) for c, v in open_amount.items()}
    year = (date(2025, 7, 1), JUNE[1])
    closed = Counter(r["outcome"] for r in disputes if r["closed_day"] and year[0] <= r["closed_day"] < year[1])
    assert (figures["disputes_won_12_months"], figures["disputes_lost_12_months"]) == (closed["won"], closed["lost"])
    # Counted per combination of rules in Postgres, split here: the same as counting each entity's rules.
    rules = Counter(rule for fired in fraud_rules_fired(pipeline) for rule in fired.split(","))
    assert rules and figures["fraud_rules_fired"] == dict(rules)


def fraud_rules_fired(pipeline) -> list[str]:
    """rules_fired of every row of the fraud_signals mart, read plainly (the reports count and rank it in SQL)."""
    import sqlalchemy as sa

    with pipeline.engine.connect() as conn:
        return conn.execute(sa.text("select rules_fired from analytics.fraud_signals")).scalars().all()


def test_cli_renders_this_months_webhook_report_with_every_generated_event(pipeline, events):
    from payops_cli.main import main

    # The test pipeline received every event minutes ago: this month's report counts them all.
    this_month = f"{datetime.now(ZoneInfo(TIMEZONE)):%Y-%m}"
    with environment(**pipeline.env):
        result = CliRunner().invoke(main, ["reports", "render", "--report", "webhook_reliability",
                                           "--period", this_month])
    assert result.exit_code == 0, result.output
    written = files(pipeline, "webhook_reliability", this_month)
    figures = json.loads(written["json"].read_text())
    assert figures["events_received"] == len(events)
    assert figures["events_processed"] + figures["events_failed"] + figures["events_waiting"] == len(events)
    assert written["html"].read_text().count('src="data:image/png;base64,') == 2


def test_a_failing_cell_fails_the_command_and_the_asset_with_the_cells_error_and_keeps_the_last_report(
        pipeline, materialized, tmp_path, monkeypatch):
    from dagster_project.defs.reports.assets import report_asset
    from dagster_project.defs.resources import WarehouseResource
    from payops_cli.main import main

    source = nbformat.read(REPORTS["webhook_reliability"].notebook, as_version=4)
    source.cells.insert(3, nbformat.v4.new_code_cell('nb.read_mart("payments_daily", currency=1 / 0)'))
    nbformat.write(source, tmp_path / "webhook_reliability.ipynb")
    monkeypatch.setattr("payops.reports.REPORTS_DIR", tmp_path)
    june = files(pipeline, "webhook_reliability")
    before = {suffix: path.read_bytes() for suffix, path in june.items()}
    with environment(**pipeline.env):
        result = CliRunner().invoke(main, ["reports", "render", "--report", "webhook_reliability",
                                           "--period", PERIOD, "--testmode"])
        assert result.exit_code == 1
        assert re.search(r"webhook_reliability 2026-06-test: cell \d+ failed with ZeroDivisionError: division by zero",
                         result.output), result.output
        assert not files(pipeline, "webhook_reliability", f"{PERIOD}-test")["html"].exists()

        failed = dg.materialize([report_asset(REPORTS["webhook_reliability"], set())], partition_key=f"{PERIOD}-01",
                                resources={"warehouse": WarehouseResource(payops_home=str(pipeline.settings.home))},
                                raise_on_error=False)
    assert not failed.success
    failure = next(e for e in failed.all_events if e.is_step_failure)
    assert "ZeroDivisionError: division by zero" in failure.event_specific_data.error.message
    assert {suffix: path.read_bytes() for suffix, path in june.items()} == before, "the last good report is kept"
    executed = nbformat.read(june["ipynb"].with_name(f"{PERIOD}.failed.ipynb"), as_version=4)
    assert any(o.output_type == "error" for cell in executed.cells if cell.cell_type == "code" for o in cell.outputs)


def test_bad_period_and_unknown_report_are_clear_errors(pipeline):
    from payops.errors import PayopsError

    with pytest.raises(PayopsError, match="YYYY-MM"):
        render(pipeline.settings, "monthly_payments_review", "June")
    with pytest.raises(PayopsError, match="no report named 'weekly'"):
        render(pipeline.settings, "weekly", PERIOD)


def test_read_mart_filters_and_cannot_write(pipeline):
    import sqlalchemy as sa

    from payops import notebook as nb

    with environment(**pipeline.env):
        june = nb.read_mart("payments_daily", start="2026-06-01", end="2026-07-01", currency="EUR", livemode=True)
        assert set(june["currency"]) == {"eur"} and set(june["livemode"]) == {True}
        assert june["day"].min() >= datetime(2026, 6, 1) and june["day"].max() < datetime(2026, 7, 1)
        assert nb.money(12345, "kwd") == "12.345 KWD" and nb.money(123456, "jpy") == "123,456 JPY"
        assert nb.major(618375, "kwd") == Decimal("618.375")
        with pytest.raises(nb.MartMissing, match="analytics.fct_nothing does not exist"):
            nb.read_mart("fct_nothing")
        with nb.read_only_engine().connect() as conn, pytest.raises(sa.exc.InternalError, match="read-only"):
            conn.execute(sa.text("delete from analytics.payments_daily"))


def test_read_mart_sums_counts_ranks_and_limits_in_postgres_as_the_events_say(pipeline, events):
    from payops import notebook as nb
    from payops.errors import PayopsError

    intents = [row for row in expected_fct_payment_intents(events, TIMEZONE).values()
               if row["livemode"] and in_june(row["created_day"])]
    counted, summed = Counter(), Counter()
    for row in intents:
        counted[row["currency"], row["final_status"]] += 1
        summed[row["currency"], row["final_status"]] += row["amount_minor"]
    assert len(counted) > 1, "the test data has June intents of more than one currency or status"
    june = {"start": JUNE[0], "end": JUNE[1], "livemode": True}
    with environment(**pipeline.env):
        grouped = nb.read_mart("fct_payment_intents", **june, columns=["currency", "final_status"],
                               aggregates={"intents": ("payment_intent_id", "count"),
                                           "amount_minor": ("amount_minor", "sum"),
                                           "largest": ("amount_minor", "max")},
                               order_by=["-intents", "currency", "final_status"])
        whole = nb.read_mart("fct_payment_intents", **june, aggregates={"intents": ("payment_intent_id", "count")})
        top = nb.read_mart("fct_payment_intents", **june, columns=["payment_intent_id", "amount_minor"],
                           order_by=["-amount_minor", "payment_intent_id"], limit=3)
        with pytest.raises(PayopsError, match="read_mart computes count, sum, min, max"):
            nb.read_mart("fct_payment_intents", aggregates={"mean": ("amount_minor", "avg")})
        with pytest.raises(PayopsError, match="cannot order analytics.fct_payment_intents by 'amount'"):
            nb.read_mart("fct_payment_intents", columns=["currency"], order_by=["-amount"])
        with pytest.raises(PayopsError, match="limit=-1"):
            nb.read_mart("fct_payment_intents", limit=-1)
        with pytest.raises(PayopsError, match="has no column amount_major"):
            nb.read_mart("fct_payment_intents", aggregates={"total": ("amount_major", "sum")})

    rows = [(r.currency, r.final_status, r.intents, r.amount_minor, r.largest) for r in grouped.itertuples()]
    largest = {key: max(row["amount_minor"] for row in intents if (row["currency"], row["final_status"]) == key)
               for key in counted}
    assert rows == sorted(((*key, n, summed[key], largest[key]) for key, n in counted.items()),
                          key=lambda row: (-row[2], row[0], row[1]))
    # Integer sums stay integers (Postgres sums bigints as numeric, which pandas would hold as Decimal objects).
    assert grouped["amount_minor"].dtype.kind == "i"
    assert whole["intents"].tolist() == [len(intents)]
    ranked = sorted(intents, key=lambda row: (-row["amount_minor"], row["payment_intent_id"]))[:3]
    assert top.values.tolist() == [[row["payment_intent_id"], row["amount_minor"]] for row in ranked]


def test_the_definitions_load_with_each_report_downstream_of_its_marts(pipeline):
    with environment(**pipeline.env):
        from dagster_project.definitions import defs

        definitions = defs()
        graph = definitions.resolve_asset_graph()
    assert definitions.resolve_sensor_def("report_automation").default_status == dg.DefaultSensorStatus.RUNNING
    for report in REPORTS.values():
        node = graph.get(dg.AssetKey(["reports", report.name]))
        assert node.partitions_def is not None
        assert {key.path[-1] for key in node.parent_keys} == {*report.marts, *report.finance_marts}


def test_the_reports_page_lists_the_rendered_reports_and_offers_both_downloads(pipeline_env, materialized):
    from streamlit_fixtures import add_app_users
    from test_streamlit_pages import open_page

    add_app_users(pipeline_env.engine)
    at = open_page("reports")
    assert at.segmented_control(key="report").options == [report.title for report in REPORTS.values()]
    at.segmented_control(key="report").set_value("dispute_risk_review").run()
    assert not at.exception, [e.message for e in at.exception]
    assert PERIOD in at.selectbox(key="period").options
    assert [button.label for button in at.get("download_button")] == ["HTML", "Notebook"]
