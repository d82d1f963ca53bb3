"""End to end: the finance marts, row for row, against tests/oracle_finance.py's figures from the generated files
(the pipeline fixture loads the generator's balance listing, as `payops refresh` does without a Stripe key); and
the sums that must be conserved between them and the payments marts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from conftest import TIMEZONE
from oracle_finance import (
    SETTLEMENT_COLUMNS,
    Balance,
    expected_balance_change_from_activity,
    expected_fct_balance_transactions,
    expected_fct_payouts,
    expected_payments_daily_settlement,
    expected_payout_reconciliation,
    latest_payouts,
    read_balance,
    sum_by,
)
from oracle_marts import read_events
from test_marts import compare, select


@pytest.fixture(scope="module")
def events(pipeline) -> list[dict]:
    return read_events([pipeline.demo.out_dir])


@pytest.fixture(scope="module")
def balance(pipeline) -> Balance:
    return read_balance(pipeline.settings.stripe_balance_landing_dir)


def report(problems: list[str]) -> None:
    assert not problems, f"{len(problems)} mismatch(es):\n" + "\n".join(problems[:40])


def test_fct_balance_transactions_matches_the_oracle(pipeline, events, balance):
    expected = expected_fct_balance_transactions(events, balance)
    columns = next(iter(expected.values())).keys()
    report(compare("fct_balance_transactions", select(pipeline, "analytics.fct_balance_transactions"),
                   lambda r: r["balance_transaction_id"], expected, columns))


def test_fct_payouts_matches_the_oracle(pipeline, events, balance):
    expected = expected_fct_payouts(events, balance)
    statuses = {row["status"] for row in expected.values()}
    assert {"paid", "failed"} <= statuses, statuses  # the demo has paid payouts and its one failure
    columns = next(iter(expected.values())).keys()
    report(compare("fct_payouts", select(pipeline, "analytics.fct_payouts"), lambda r: r["payout_id"], expected,
                   columns))


def test_payout_reconciliation_matches_the_oracle_and_every_paid_payout_reconciles(pipeline, events, balance):
    rows = select(pipeline, "analytics.payout_reconciliation")
    expected = expected_payout_reconciliation(events, balance)
    report(compare("payout_reconciliation", rows,
                   lambda r: (r["record_type"], r["payout_id"] or r["balance_transaction_id"]), expected,
                   ["amount_minor"]))
    payouts = [r for r in rows if r["record_type"] == "payout"]
    assert payouts and all(r["is_reconciled"] and r["difference_minor"] == 0 for r in payouts)
    now = datetime.now(UTC)
    for row in rows:
        if row["record_type"] == "unpaid_transaction":
            assert abs(row["age_days"] - (now - expected[("unpaid_transaction", row["balance_transaction_id"])]
                                          ["created_at"]).days) <= 1


def test_balance_change_from_activity_matches_the_oracle(pipeline, events, balance):
    expected = expected_balance_change_from_activity(events, balance)
    columns = next(iter(expected.values())).keys()
    report(compare("balance_change_from_activity", select(pipeline, "analytics.balance_change_from_activity"),
                   lambda r: r["balance_transaction_id"], expected, columns))


def test_each_paid_automatic_payout_equals_the_net_it_carried(pipeline):
    carried = sum_by((r for r in select(pipeline, "analytics.fct_balance_transactions") if r["automatic_payout_id"]),
                     "automatic_payout_id", "net_minor")
    paid = [r for r in select(pipeline, "analytics.fct_payouts") if r["status"] == "paid" and r["automatic"]]
    assert paid
    assert {r["payout_id"]: r["amount_minor"] for r in paid} == {r["payout_id"]: carried[r["payout_id"]] for r in paid}


def test_reporting_categories_conserve_the_charges_refunds_and_disputes_they_come_from(pipeline):
    """Per presentment currency, live: what the balance says customers paid, got back and disputed equals what
    the payments marts say."""
    txns = [r for r in select(pipeline, "analytics.fct_balance_transactions") if r["livemode"]]

    def facing(*categories: str) -> dict[str, int]:
        return sum_by((r for r in txns if r["reporting_category"] in categories), "customer_facing_currency",
                      "customer_facing_amount_minor")

    charges = [r for r in select(pipeline, "analytics.fct_charges")
               if r["livemode"] and r["status"] == "succeeded" and r["captured"]]
    assert facing("charge") == sum_by(charges, "currency", "amount_captured_minor")

    refunds = [r for r in select(pipeline, "analytics.fct_refunds") if r["livemode"]]
    refunded = {currency: -amount for currency, amount in facing("refund", "refund_failure").items()}
    assert refunded == {c: a for c, a in sum_by(refunds, "currency", "amount_minor").items() if a or c in refunded}

    disputes = [r for r in select(pipeline, "analytics.fct_disputes") if r["livemode"] and not r["is_inquiry"]]
    withdrawn = {currency: -amount for currency, amount in facing("dispute").items()}
    assert withdrawn == sum_by(disputes, "currency", "amount_minor")
    assert facing("dispute_reversal") == sum_by((d for d in disputes if d["outcome"] == "won"), "currency",
                                                "amount_minor")


def test_payments_daily_settlement_columns_match_the_oracle_and_net_keeps_fees_out(pipeline, events, balance):
    rows = select(pipeline, "analytics.payments_daily")
    expected = expected_payments_daily_settlement(events, balance, TIMEZONE)
    report(compare("payments_daily", rows, lambda r: (r["day"], r["currency"], r["livemode"]), expected,
                   SETTLEMENT_COLUMNS,
                   extra_ok=lambda key, row: not any(row[column] for column in SETTLEMENT_COLUMNS)))
    assert {r["settlement_currency"] for r in rows} == {"usd"}
    assert all(r["net_amount_minor"] == r["gross_amount_minor"] - r["refunded_amount_minor"]
               - r["dispute_loss_amount_minor"] for r in rows)


def test_each_failed_payout_is_an_alert_condition(pipeline, events):
    from ingest.mart_alerts import mart_alerts

    failed = {payout_id for payout_id, payout in latest_payouts(events).items() if payout["status"] == "failed"}
    assert failed, "the demo returns one failed payout"
    alerts = {alert.key: alert for alert in mart_alerts(pipeline.engine) if alert.kind == "payout_failed"}
    assert set(alerts) == {f"payout_failed:{payout_id}" for payout_id in failed}
    assert all(alert.severity == "error" and "failed" in alert.message for alert in alerts.values())
