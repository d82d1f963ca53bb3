"""End to end: generated data → Dagster (ingest assets + dbt build) → analytics.payments_daily, checked per
currency against figures computed straight from the generated event files (tests/oracle.py)."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import dagster as dg
import orjson
import pytest
import sqlalchemy as sa
from conftest import TIMEZONE
from oracle import FIGURE_COLUMNS, Figures, expected_payments_daily, read_events
from streamlit_fixtures import signed_in

from payops.users import add_user

EXPONENTS = {"usd": 2, "eur": 2, "gbp": 2, "brl": 2, "jpy": 0, "kwd": 3}


@pytest.fixture(scope="module")
def events(pipeline) -> list[dict]:
    return read_events([pipeline.demo.out_dir])


@pytest.fixture(scope="module")
def mart(pipeline) -> list[dict]:
    with pipeline.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.text("select * from analytics.payments_daily"))]


def event_lines(out_dir: Path) -> list[bytes]:
    return [line for path in sorted(out_dir.rglob("*.jsonl")) for line in path.read_bytes().splitlines() if line]


def test_every_figure_matches_the_events_per_day_and_currency(mart, events):
    expected = expected_payments_daily(events, TIMEZONE)
    actual = {(r["day"], r["currency"], r["livemode"]): r for r in mart}
    assert set(expected) <= set(actual), "a day with activity is missing from the mart"
    for key, row in actual.items():
        figures = expected.get(key, Figures())
        for column in FIGURE_COLUMNS:
            assert row[column] == getattr(figures, column), (key, column)


def test_major_amounts_use_each_currencys_exponent(mart):
    for row in mart:
        scale = Decimal(10) ** EXPONENTS[row["currency"]]
        for name in ("gross", "refunded", "dispute_loss", "net", "dispute_fee"):
            assert row[f"{name}_amount"] * scale == row[f"{name}_amount_minor"], (row["currency"], name)


def test_a_zero_decimal_currency_is_not_divided_by_100(mart):
    yen = [r for r in mart if r["currency"] == "jpy" and r["gross_amount_minor"]]
    assert yen, "the demo data should contain yen charges"
    assert all(r["gross_amount"] == r["gross_amount_minor"] for r in yen)


def test_duplicate_deliveries_are_counted_once(pipeline, mart, events):
    lines = event_lines(pipeline.demo.out_dir)
    assert len(lines) > len(events), "the demo data should contain duplicate deliveries"
    with pipeline.engine.connect() as conn:
        stored = conn.execute(sa.text("select count(*) from raw.stripe_events")).scalar()
    assert stored == len(events)
    charges = {e["data"]["object"]["id"] for e in events if e["data"]["object"]["object"] == "charge"}
    assert sum(r["charge_attempts"] for r in mart) == len(charges)


def _charge_versions(events: list[dict]) -> dict[str, list[dict]]:
    versions: dict[str, list[dict]] = defaultdict(list)
    for e in events:
        if e["data"]["object"]["object"] == "charge":
            versions[e["data"]["object"]["id"]].append(e)
    return versions


def test_out_of_order_cumulative_refunds_keep_the_newest_amount(pipeline, mart):
    # Arrival order is file order, duplicates included: the naive "last delivered wins" reading.
    arrived = [orjson.loads(line) for line in event_lines(pipeline.demo.out_dir)]
    last_delivered = {e["data"]["object"]["id"]: e["data"]["object"] for e in arrived
                      if e["data"]["object"]["object"] == "charge"}
    newest = {cid: max(v, key=lambda e: (e["created"], e["data"]["object"]["amount_refunded"]))["data"]["object"]
              for cid, v in _charge_versions(arrived).items()}
    reordered = [cid for cid in newest if newest[cid]["amount_refunded"] != last_delivered[cid]["amount_refunded"]]
    assert reordered, "the demo data should deliver a charge's refunds out of order"
    with pipeline.engine.connect() as conn:
        total = dict(conn.execute(sa.text(
            "select currency || ':' || livemode, sum(refunded_amount_minor) from analytics.payments_daily group by 1"
        )).all())
    expected: dict[str, int] = defaultdict(int)
    for charge in newest.values():
        if charge["captured"]:
            expected[f"{charge['currency']}:{str(charge['livemode']).lower()}"] += charge["amount_refunded"]
    assert {k: v for k, v in total.items() if v} == {k: v for k, v in expected.items() if v}


def test_uncaptured_authorizations_are_successes_not_failures(mart, events):
    latest = {cid: max(v, key=lambda e: (e["created"], e["data"]["object"]["amount_refunded"]))["data"]["object"]
              for cid, v in _charge_versions(events).items()}
    uncaptured = [c for c in latest.values() if c["status"] == "succeeded" and not c["captured"]]
    assert uncaptured, "the demo data should contain uncaptured authorizations"
    assert sum(r["charges_failed"] for r in mart) == sum(c["status"] == "failed" for c in latest.values())
    assert sum(r["charges_succeeded"] for r in mart) == sum(c["status"] == "succeeded" for c in latest.values())
    assert sum(r["gross_amount_minor"] for r in mart) == sum(
        c["amount_captured"] for c in latest.values() if c["status"] == "succeeded" and c["captured"])


def test_test_mode_is_kept_apart(mart, events):
    test_mode_charges = {e["data"]["object"]["id"] for e in events
                         if e["data"]["object"]["object"] == "charge" and not e["data"]["object"]["livemode"]}
    assert test_mode_charges, "the demo data should contain test-mode charges"
    assert sum(r["charge_attempts"] for r in mart if not r["livemode"]) == len(test_mode_charges)


def test_the_app_tables_are_copied_row_for_row(pipeline):
    with pipeline.engine.connect() as conn:
        copied = dict(conn.execute(sa.text("select source_table, count(*) from raw.app_rows group by 1")).all())
    assert copied == pipeline.demo.app_rows


def test_the_run_is_recorded_in_the_postgres_backed_dagster_instance(pipeline_env):
    settings, result = pipeline_env.settings, pipeline_env.run
    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        run = instance.get_run_by_id(result.run_id)
        assert run is not None and run.status == dg.DagsterRunStatus.SUCCESS
        materialized = instance.get_latest_materialization_event(dg.AssetKey(["analytics", "payments_daily"]))
        assert materialized is not None and materialized.run_id == result.run_id
    assert (settings.dagster_home / "dagster.yaml").is_file()


def test_a_second_refresh_loads_nothing_new_and_changes_no_figure(pipeline_env, mart):
    from dagster_project.refresh import refresh

    settings, engine = pipeline_env.settings, pipeline_env.engine
    result = refresh(settings)
    assert result.success
    ingest = {e.asset_key.path[-1]: e.materialization.metadata for e in result.get_asset_materialization_events()}
    assert ingest["stripe_events"]["loaded"].value == 0
    assert ingest["app_rows"]["rows_changed"].value == 0
    with engine.connect() as conn:
        again = [dict(r._mapping) for r in conn.execute(sa.text("select * from analytics.payments_daily"))]
    key = lambda r: (r["day"], r["currency"], r["livemode"])  # noqa: E731
    assert sorted(again, key=key) == sorted(mart, key=key)


def test_the_overview_page_shows_the_built_marts_figures(pipeline_env, mart, events):
    """The Streamlit page on the real marts (not a hand-made table), so a renamed column fails here."""
    from datetime import timedelta

    from streamlit.testing.v1 import AppTest

    app = Path(__file__).resolve().parents[1] / "streamlit_app" / "app.py"
    add_user(pipeline_env.engine, "e2e-analyst@example.com", "analyst", added_by="tests")
    at = AppTest.from_file(str(app), default_timeout=60)
    at.user = signed_in("e2e-analyst@example.com")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    last_day = max(r["day"] for r in mart if r["livemode"])
    first_day = last_day - timedelta(days=29)
    gross: dict[str, int] = defaultdict(int)
    for (day, currency, livemode), figures in expected_payments_daily(events, TIMEZONE).items():
        if livemode and first_day <= day <= last_day:
            gross[currency] += figures.gross_amount_minor
    shown = {node.key.removeprefix("currency-"): {m.label: m.value for m in node.metric}
             for node in at.main if (getattr(node, "key", None) or "").startswith("currency-")}
    assert set(shown) == set(gross)
    for currency, minor in gross.items():
        exponent = EXPONENTS[currency]
        assert shown[currency]["Gross"] == f"{Decimal(minor) / 10**exponent:,.{exponent}f} {currency.upper()}"
