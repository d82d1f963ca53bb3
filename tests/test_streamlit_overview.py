"""The overview page, run by Streamlit's AppTest against a real Postgres seeded with known rows."""

from __future__ import annotations

import gc
from collections import Counter, defaultdict
from datetime import date
from decimal import Decimal

import pytest
from streamlit.testing.v1 import AppTest
from streamlit_fixtures import (
    ANALYST,
    APP_PATH,
    DEFAULT_FIRST_DAY,
    EXPONENTS,
    LAST_LIVE_DAY,
    PAYMENT_DAYS,
    TIMEZONE,
    SeededWarehouse,
    free_port,
    signed_in,
)

pytest_plugins = ["streamlit_fixtures"]

RUN_TIMEOUT_SECONDS = 60


def money(minor: int, currency: str) -> str:
    exponent = EXPONENTS[currency]
    return f"{Decimal(minor) / 10**exponent:,.{exponent}f} {currency.upper()}"


def expected_kpis(livemode: bool, first_day: date, last_day: date) -> dict[str, dict[str, str]]:
    """The KPI block of each currency, summed straight from the seeded rows."""
    totals: defaultdict[str, Counter] = defaultdict(Counter)
    for payment_day in PAYMENT_DAYS:
        if payment_day.livemode == livemode and first_day <= payment_day.day <= last_day:
            totals[payment_day.currency].update(
                attempts=payment_day.attempts,
                succeeded=payment_day.succeeded,
                gross=payment_day.gross_minor,
                refunded=payment_day.refunded_minor,
                dispute_loss=payment_day.dispute_loss_minor,
                net=payment_day.net_minor,
            )
    return {
        currency: {
            "Charge attempts": f"{total['attempts']:,}",
            "Attempt success rate": f"{total['succeeded'] / total['attempts']:.1%}",
            "Gross": money(total["gross"], currency),
            "Refunds": money(total["refunded"], currency),
            "Dispute losses": money(total["dispute_loss"], currency),
            "Net": money(total["net"], currency),
        }
        for currency, total in totals.items()
    }


def shown_kpis(at: AppTest) -> dict[str, dict[str, str]]:
    currencies = [
        node.key.removeprefix("currency-")
        for node in at.main
        if (getattr(node, "key", None) or "").startswith("currency-")
    ]
    return {
        currency: {metric.label: metric.value for metric in at.get_by_key(f"currency-{currency}").metric}
        for currency in currencies
    }


def run_app() -> AppTest:
    at = AppTest.from_file(APP_PATH, default_timeout=RUN_TIMEOUT_SECONDS)
    at.user = signed_in(ANALYST)
    at.run()
    assert not at.exception, [exception.message for exception in at.exception]
    return at


def test_live_kpis_over_the_default_range_match_the_seeded_rows(warehouse_env: SeededWarehouse) -> None:
    at = run_app()

    assert at.date_input[0].value == (DEFAULT_FIRST_DAY, LAST_LIVE_DAY)
    assert at.segmented_control(key="g_mode").value == "Live"
    expected = expected_kpis(True, DEFAULT_FIRST_DAY, LAST_LIVE_DAY)
    assert shown_kpis(at) == expected
    # The same figures written out, so a slip in the helpers above cannot hide one in the app.
    assert expected["jpy"]["Gross"] == "1,234,567 JPY"
    assert expected["kwd"]["Net"] == "11.340 KWD"
    assert expected["usd"]["Gross"] == "2,280.49 USD"
    assert expected["usd"]["Attempt success rate"] == "82.4%"
    assert "gbp" not in expected
    # Against the 30 days before (31 Jan to 1 March), which hold only 1 March's usd row: 700.00 gross.
    usd_gross = next(m for m in at.get_by_key("currency-usd").metric if m.label == "Gross")
    assert usd_gross.delta == "1,580.49 USD"
    assert any(TIMEZONE in caption.value for caption in at.caption)
    assert any(TIMEZONE in caption.value for caption in at.sidebar.caption)
    for currency in expected:
        block = at.get_by_key(f"currency-{currency}")
        assert len(block.get("vega_lite_chart")) == 1
        assert not block.dataframe, "the daily figures are read only once their expander is opened"
        at.session_state[f"daily-{currency}"] = True  # what opening the expander sets
    at.run()
    for currency in expected:
        [daily_table] = at.get_by_key(f"currency-{currency}").dataframe
        assert list(daily_table.value["gross"]) == [
            float(payment_day.major(payment_day.gross_minor))
            for payment_day in sorted(PAYMENT_DAYS, key=lambda payment_day: payment_day.day)
            if payment_day.currency == currency
            and payment_day.livemode
            and DEFAULT_FIRST_DAY <= payment_day.day <= LAST_LIVE_DAY
        ]


def test_the_app_takes_its_loaded_objects_out_of_the_collectors_sight(warehouse_env: SeededWarehouse) -> None:
    # Full collections of what the imports hold were the slow transaction searches (docs/benchmarks.md); frozen,
    # they are skipped. Streamlit, pandas, SQLAlchemy and Altair alone are over 100,000 objects.
    run_app()
    assert gc.get_freeze_count() > 100_000


def test_widening_the_range_and_switching_to_test_mode(warehouse_env: SeededWarehouse) -> None:
    at = run_app()

    first_live_day = min(payment_day.day for payment_day in PAYMENT_DAYS if payment_day.livemode)
    at.date_input[0].set_value((first_live_day, LAST_LIVE_DAY)).run()
    assert shown_kpis(at) == expected_kpis(True, first_live_day, LAST_LIVE_DAY)
    assert shown_kpis(at)["usd"]["Gross"] == "2,980.49 USD"

    at.segmented_control(key="g_mode").set_value("Test").run()
    test_days = [payment_day.day for payment_day in PAYMENT_DAYS if not payment_day.livemode]
    assert at.date_input[0].value == (min(test_days), max(test_days))
    assert shown_kpis(at) == expected_kpis(False, min(test_days), max(test_days))
    assert set(shown_kpis(at)) == {"usd", "gbp"}


def test_without_the_mart_the_page_says_to_run_payops_refresh(
    warehouse_env: SeededWarehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WAREHOUSE_URL", warehouse_env.no_mart_url)
    at = run_app()

    # Never migrated either: the sign-in's own table is the first one missing.
    assert [info.value for info in at.info] == [
        "The table `ops.users` does not exist yet. "
        "Run `payops refresh` to build the analytics marts, then reload this page."
    ]
    assert not at.metric


def test_an_unreachable_warehouse_is_an_error_message(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("PAYOPS_HOME", str(tmp_path))
    monkeypatch.setenv("WAREHOUSE_URL", f"postgresql://payops:secret@127.0.0.1:{free_port()}/warehouse")
    at = run_app()

    [error] = at.error
    assert "Cannot reach the warehouse" in error.value
    assert "secret" not in error.value
    assert not at.metric
