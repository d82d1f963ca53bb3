"""tests/oracle_marts.py's rules on hand-written Stripe-shaped events, every expected number worked out by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from fractions import Fraction
from itertools import count

import pytest
from oracle_marts import (
    FraudRule,
    app_status_from_stripe,
    expected_dispute_metrics,
    expected_failure_analysis,
    expected_fct_charges,
    expected_fct_disputes,
    expected_fct_payment_intents,
    expected_fct_refunds,
    expected_fraud_signals,
    expected_payments_daily_extensions,
    expected_reconciliation_exceptions,
    expected_revenue_trends,
    expected_student_payment_summary,
    expected_webhook_health,
    major,
    planted_exceptions,
)

pytestmark = pytest.mark.fast

SP = "America/Sao_Paulo"  # UTC-3 all year
_numbers = count(1)


def at(day: int, hour: int = 12, minute: int = 0, second: int = 0, month: int = 6) -> int:
    return int(datetime(2026, month, day, hour, minute, second, tzinfo=UTC).timestamp())


def utc(day: int, hour: int = 12, minute: int = 0, second: int = 0, month: int = 6) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=UTC)


def event(type_: str, obj: dict, created: int, event_id: str | None = None) -> dict:
    return {"id": event_id or f"evt_{next(_numbers):06d}", "object": "event", "api_version": "2026-07-29",
            "created": created, "data": {"object": obj}, "livemode": obj["livemode"], "type": type_}


def charge(cid: str = "ch_1", *, created: int = at(1), status: str = "succeeded", captured: bool | None = None,
           amount: int = 1000, amount_refunded: int = 0, currency: str = "usd", livemode: bool = True,
           pi: str = "pi_1", customer: str = "cus_1", student: str = "7", purchase: str | None = "11",
           brand: str = "visa", country: str = "US", fingerprint: str = "fp_1", risk_level: str = "normal",
           risk_score: int = 20, reason: str | None = None, failure_code: str | None = None,
           outcome_type: str | None = None) -> dict:
    captured = status == "succeeded" if captured is None else captured
    metadata = {"student_id": student} | ({"purchase_transaction_id": purchase} if purchase else {})
    return {
        "id": cid, "object": "charge", "created": created, "status": status, "captured": captured,
        "amount": amount, "amount_captured": amount if captured else 0, "amount_refunded": amount_refunded,
        "currency": currency, "livemode": livemode, "payment_intent": pi, "customer": customer, "metadata": metadata,
        "failure_code": failure_code if status == "failed" else None, "disputed": False,
        "outcome": {"type": outcome_type or ("issuer_declined" if status == "failed" else "authorized"),
                    "reason": reason, "risk_level": risk_level, "risk_score": risk_score},
        "payment_method_details": {"card": {"brand": brand, "country": country, "fingerprint": fingerprint},
                                   "type": "card"},
    }


def declined(cid: str, created: int, **kwargs) -> dict:
    kwargs = {"reason": "insufficient_funds", "failure_code": "card_declined"} | kwargs
    return event("charge.failed", charge(cid, created=created, status="failed", **kwargs), created)


def paid(cid: str, created: int, **kwargs) -> dict:
    return event("charge.succeeded", charge(cid, created=created, **kwargs), created)


def intent(pid: str = "pi_1", *, created: int = at(1), status: str = "requires_payment_method",
           amount: int = 1000, currency: str = "usd", livemode: bool = True) -> dict:
    return {"id": pid, "object": "payment_intent", "created": created, "status": status, "amount": amount,
            "currency": currency, "livemode": livemode, "customer": "cus_1",
            "metadata": {"student_id": "7", "purchase_transaction_id": "11"}}


def dispute(did: str = "dp_1", *, status: str, charge_id: str = "ch_1", created: int = at(2), amount: int = 1000,
            currency: str = "usd", livemode: bool = True, brand: str = "visa", txns: tuple[dict, ...] = ()) -> dict:
    return {"id": did, "object": "dispute", "charge": charge_id, "created": created, "status": status,
            "amount": amount, "currency": currency, "livemode": livemode, "reason": "fraudulent",
            "payment_intent": "pi_1", "balance_transactions": list(txns),
            "payment_method_details": {"card": {"brand": brand}, "type": "card"}}


def txn(tid: str, amount: int, fee: int, created: int, category: str) -> dict:
    return {"id": tid, "object": "balance_transaction", "amount": amount, "fee": fee, "currency": "usd",
            "created": created, "reporting_category": category, "type": "adjustment"}


# -- money ----------------------------------------------------------------------------------------------------

def test_major_amounts_use_stripes_exponents():
    assert major(5000, "jpy") == Decimal(5000)
    assert major(1234, "kwd") == Decimal("1.234")
    assert major(1234, "usd") == Decimal("12.34")
    assert major(-150, "EUR") == Decimal("-1.50")


# -- fct_charges ----------------------------------------------------------------------------------------------

def test_fct_charges_takes_every_value_from_the_latest_state_and_cuts_days_in_the_reporting_zone():
    created = at(2, hour=2)  # 23:00 on June 1st in São Paulo
    pending = event("charge.pending", charge(created=created, status="pending", currency="kwd", amount=1234),
                    created, "evt_c")
    failed = declined("ch_1", created, currency="kwd", amount=1234, reason="highest_risk_level",
                      outcome_type="blocked", risk_level="highest", risk_score=91, failure_code="card_declined",
                      brand="mastercard", country="KW", fingerprint="fp_9")
    failed["id"] = "evt_a"  # sorts before the pending event: only the status rank picks `failed`

    row = expected_fct_charges([pending, failed], SP)["ch_1"]

    assert row == {
        "charge_id": "ch_1", "payment_intent_id": "pi_1", "customer_id": "cus_1", "student_id": "7",
        "purchase_transaction_id": "11", "created_at": utc(2, 2), "created_day": date(2026, 6, 1),
        "currency": "kwd", "amount": Decimal("1.234"), "amount_minor": 1234, "amount_captured_minor": 0,
        "status": "failed", "captured": False, "failure_code": "card_declined", "decline_code": None,
        "outcome_type": "blocked", "risk_level": "highest", "risk_score": 91, "card_brand": "mastercard",
        "card_country": "KW", "card_fingerprint": "fp_9", "amount_refunded": Decimal("0.000"),
        "amount_refunded_minor": 0, "disputed": False, "livemode": True,
    }


def test_fct_charges_a_refund_later_is_the_latest_amount_refunded_and_no_purchase_is_none():
    events = [paid("ch_1", at(1), purchase=None),
              event("charge.refunded", charge(amount_refunded=400, purchase=None), at(3))]

    row = expected_fct_charges(events)["ch_1"]

    assert (row["amount_refunded_minor"], row["amount_refunded"], row["purchase_transaction_id"]) == (
        400, Decimal("4.00"), None)
    assert row["decline_code"] is None and row["status"] == "succeeded" and row["amount_captured_minor"] == 1000


# -- fct_payment_intents --------------------------------------------------------------------------------------

def test_a_failure_then_a_success_is_one_recovered_intent_of_two_attempts():
    events = [event("payment_intent.created", intent(created=at(1)), at(1)),
              declined("ch_1", at(1, second=30)),
              event("payment_intent.payment_failed", intent(created=at(1)), at(1, second=30)),
              paid("ch_2", at(1, minute=5)),
              event("payment_intent.succeeded", intent(created=at(1), status="succeeded"), at(1, minute=5))]

    row = expected_fct_payment_intents(events)["pi_1"]

    assert (row["charge_attempts"], row["failed_attempts"], row["recovered"], row["final_status"],
            row["seconds_to_success"]) == (2, 1, True, "succeeded", 270)


def test_an_intent_that_only_failed_is_not_recovered_and_has_no_time_to_success():
    events = [event("payment_intent.created", intent(), at(1)), declined("ch_1", at(1, second=10)),
              declined("ch_2", at(1, minute=1))]

    row = expected_fct_payment_intents(events)["pi_1"]

    assert (row["charge_attempts"], row["failed_attempts"], row["recovered"], row["final_status"],
            row["seconds_to_success"]) == (2, 2, False, "requires_payment_method", None)


def test_a_success_before_a_failure_is_not_a_recovery_and_an_abandoned_intent_has_no_attempts():
    events = [event("payment_intent.created", intent(), at(1)), paid("ch_1", at(1, second=10)),
              declined("ch_2", at(1, second=20)),
              event("payment_intent.created", intent("pi_2"), at(1)),
              event("payment_intent.canceled", intent("pi_2", status="canceled"), at(2))]

    rows = expected_fct_payment_intents(events)

    assert (rows["pi_1"]["recovered"], rows["pi_1"]["seconds_to_success"]) == (False, 0)  # succeeded first try
    assert (rows["pi_2"]["charge_attempts"], rows["pi_2"]["final_status"], rows["pi_2"]["recovered"]) == (
        0, "canceled", False)


def test_within_one_second_the_further_along_intent_status_wins():
    events = [event("payment_intent.succeeded", intent(status="succeeded"), at(1), "evt_a"),
              event("payment_intent.requires_action", intent(status="requires_action"), at(1), "evt_b")]

    assert expected_fct_payment_intents(events)["pi_1"]["final_status"] == "succeeded"


# -- fct_refunds ----------------------------------------------------------------------------------------------

def test_refund_rows_are_increments_in_event_order_including_a_failure_and_never_a_released_authorization():
    events = [paid("ch_1", at(1)),
              event("charge.refunded", charge(amount_refunded=1000), at(4)),  # delivered first, happened last
              event("charge.refunded", charge(amount_refunded=300), at(2, hour=1)),  # 22:00 June 1st in SP
              event("charge.updated", charge(amount_refunded=300), at(3)),  # metadata only: no increment
              event("charge.updated", charge(amount_refunded=0), at(5)),  # the refund failed
              event("charge.succeeded", charge("ch_2", captured=False), at(1)),
              event("charge.expired", charge("ch_2", captured=False, amount_refunded=1000), at(8))]

    assert expected_fct_refunds(events, SP) == {
        ("ch_1", utc(2, 1), date(2026, 6, 1), "usd", 300, True): 1,
        ("ch_1", utc(4), date(2026, 6, 4), "usd", 700, True): 1,
        ("ch_1", utc(5), date(2026, 6, 5), "usd", -1000, True): 1,
    }


# -- fct_disputes ---------------------------------------------------------------------------------------------

def test_a_won_dispute_withdraws_reinstates_and_keeps_its_fee_once():
    out = txn("txn_1", -1000, 1500, at(2), "dispute")
    back = txn("txn_2", 1000, 0, at(9), "dispute_reversal")
    events = [event("charge.dispute.created", dispute(status="needs_response"), at(2)),
              event("charge.dispute.funds_withdrawn", dispute(status="needs_response", txns=(out,)), at(2)),
              event("charge.dispute.updated", dispute(status="under_review", txns=(out,)), at(4)),
              event("charge.dispute.closed", dispute(status="won", txns=(out, back)), at(9)),
              event("charge.dispute.funds_reinstated", dispute(status="won", txns=(out, back)), at(9)),
              event("charge.dispute.updated", dispute(status="won", txns=(out, back)), at(12))]

    row = expected_fct_disputes(events)["dp_1"]

    assert (row["status"], row["amount_minor"], row["closed_at"], row["outcome"], row["withdrawn_minor"],
            row["reinstated_minor"], row["fee_minor"], row["is_inquiry"]) == (
        "won", 1000, utc(9), "won", 1000, 1000, 1500, False)


def test_an_open_dispute_and_an_inquiry():
    events = [event("charge.dispute.created", dispute("dp_1", status="needs_response"), at(2)),
              event("charge.dispute.created", dispute("dp_2", status="warning_needs_response"), at(2)),
              event("charge.dispute.closed", dispute("dp_2", status="warning_closed"), at(6))]

    rows = expected_fct_disputes(events)

    assert (rows["dp_1"]["closed_at"], rows["dp_1"]["outcome"], rows["dp_1"]["withdrawn_minor"],
            rows["dp_1"]["fee_minor"], rows["dp_1"]["is_inquiry"]) == (None, "open", 0, 0, False)
    assert (rows["dp_2"]["status"], rows["dp_2"]["closed_at"], rows["dp_2"]["is_inquiry"]) == (
        "warning_closed", utc(6), True)


# -- payments_daily extensions --------------------------------------------------------------------------------

def test_intent_success_rate_avg_and_median_values_and_open_exposure_per_day():
    events = [
        event("payment_intent.succeeded", intent("pi_1", created=at(1), status="succeeded"), at(1)),
        event("payment_intent.created", intent("pi_2", created=at(1)), at(1)),
        event("payment_intent.canceled", intent("pi_3", created=at(1), status="canceled"), at(1)),
        paid("ch_1", at(1), amount=1000), paid("ch_2", at(1), amount=2000), paid("ch_3", at(1), amount=6000),
        paid("ch_4", at(1), amount=9000),
        event("charge.succeeded", charge("ch_5", created=at(1), amount=99999, captured=False), at(1)),
        declined("ch_6", at(1), amount=50000),
        event("charge.dispute.created", dispute("dp_1", status="needs_response", created=at(2), amount=700), at(2)),
        event("charge.dispute.closed", dispute("dp_1", status="lost", created=at(2), amount=700), at(4)),
        event("charge.dispute.created", dispute("dp_2", status="warning_needs_response", created=at(3), amount=300),
              at(3)),
        event("charge.refunded", charge("ch_1", created=at(1), amount_refunded=1000), at(5)),
    ]

    rows = expected_payments_daily_extensions(events)

    day1 = rows[(date(2026, 6, 1), "usd", True)]
    assert day1["intent_success_rate"] == Fraction(1, 3)
    assert day1["avg_transaction_value_minor"] == 4500  # (1000 + 2000 + 6000 + 9000) / 4
    assert day1["median_transaction_value_minor"] == 2000  # the lower of the two middle values, 2000 and 6000
    assert "open_dispute_exposure_minor" not in day1
    exposure = {k[0].day: v.get("open_dispute_exposure_minor") for k, v in rows.items()}
    # dp_1 is open June 2-3 (lost on the 4th); dp_2, an inquiry, from June 3 to the last day (the 5th).
    assert exposure == {1: None, 2: 700, 3: 1000, 4: 300, 5: 300}


# -- revenue_trends -------------------------------------------------------------------------------------------

def test_revenue_trends_weeks_start_on_monday_and_growth_compares_with_the_previous_period():
    # 2026-06-07 is a Sunday, 06-08 a Monday; 2026-05-31 a Sunday.
    events = [paid("ch_1", at(31, month=5), amount=1000), paid("ch_2", at(7), amount=4000),
              paid("ch_3", at(8), amount=3000), event("charge.refunded", charge("ch_3", created=at(8), amount=3000,
                                                                                amount_refunded=3000), at(9)),
              paid("ch_4", at(15), amount=500)]

    rows = expected_revenue_trends(events)

    week = {k[1]: v for k, v in rows.items() if k[0] == "week"}
    assert sorted(week) == [date(2026, 5, 25), date(2026, 6, 1), date(2026, 6, 8), date(2026, 6, 15)]
    assert [week[d]["net_amount_minor"] for d in sorted(week)] == [1000, 4000, 0, 500]
    assert [week[d]["net_growth_rate"] for d in sorted(week)] == [None, Fraction(3), Fraction(-1), None]
    assert week[date(2026, 6, 8)]["gross_amount_minor"] == 3000
    assert week[date(2026, 6, 8)]["refunded_amount_minor"] == 3000
    month = {k[1]: v for k, v in rows.items() if k[0] == "month"}
    assert {d: (v["net_amount_minor"], v["net_growth_rate"]) for d, v in month.items()} == {
        date(2026, 5, 1): (1000, None), date(2026, 6, 1): (4500, Fraction(7, 2))}


# -- failure_analysis -----------------------------------------------------------------------------------------

def test_failure_analysis_counts_each_dimension_value_with_its_share_of_the_days_failures():
    events = [declined("ch_1", at(1), brand="visa", reason="insufficient_funds"),
              declined("ch_2", at(1), brand="visa", reason="do_not_honor"),
              declined("ch_3", at(1), brand="mastercard", reason="insufficient_funds", failure_code="expired_card"),
              paid("ch_4", at(1)), declined("ch_5", at(2), brand="amex")]

    rows = expected_failure_analysis(events)

    june1 = {k[3:]: v for k, v in rows.items() if k[0] == date(2026, 6, 1)}
    assert june1[("card_brand", "visa")] == {"failed_attempts": 2, "failures_total": 3, "share": Fraction(2, 3)}
    assert june1[("decline_code", "do_not_honor")]["share"] == Fraction(1, 3)
    assert june1[("failure_code", "card_declined")]["failed_attempts"] == 2
    assert june1[("card_country", "US")] == {"failed_attempts": 3, "failures_total": 3, "share": 1}
    assert len(june1) == 2 + 2 + 2 + 1
    assert rows[(date(2026, 6, 2), "usd", True, "card_brand", "amex")]["share"] == 1


# -- dispute_metrics ------------------------------------------------------------------------------------------

def test_visa_ratio_uses_the_same_month_and_mastercard_ratio_the_prior_month():
    events = [paid("ch_1", at(20, month=5), brand="mastercard"), paid("ch_2", at(21, month=5), brand="mastercard"),
              paid("ch_3", at(1), brand="mastercard"), paid("ch_4", at(2), brand="visa"),
              paid("ch_5", at(2), brand="visa"), declined("ch_6", at(2), brand="visa"),
              event("charge.succeeded", charge("ch_8", created=at(2), brand="visa", captured=False), at(2)),
              paid("ch_7", at(2), brand="amex"),
              event("charge.dispute.created", dispute("dp_1", status="needs_response", charge_id="ch_1",
                                                      created=at(3), brand="mastercard"), at(3)),
              event("charge.dispute.created", dispute("dp_2", status="needs_response", charge_id="ch_4",
                                                      created=at(4), brand="visa"), at(4)),
              event("charge.dispute.created", dispute("dp_3", status="warning_needs_response", charge_id="ch_7",
                                                      created=at(4), brand="amex"), at(4))]

    rows = expected_dispute_metrics(events)

    may, june = date(2026, 5, 1), date(2026, 6, 1)
    assert rows[(june, "mastercard", True)] == {"disputes": 1, "inquiries": 0, "open_disputes": 1,
                                                "card_sales_same_month": 1, "card_transactions_prior_month": 2,
                                                "visa_ratio": 1, "mastercard_ratio": Fraction(1, 2)}
    # neither the failed attempt nor the uncaptured authorization is a settled sale
    assert rows[(june, "visa", True)]["visa_ratio"] == Fraction(1, 2)
    assert rows[(june, "visa", True)]["mastercard_ratio"] is None  # no visa charges in May
    # an inquiry is no dispute for the networks (decision 13), but it is open
    assert rows[(june, "other", True)] == {"disputes": 0, "inquiries": 1, "open_disputes": 1,
                                           "card_sales_same_month": 1, "card_transactions_prior_month": 0,
                                           "visa_ratio": 0, "mastercard_ratio": None}
    assert rows[(may, "mastercard", True)] == {"disputes": 0, "inquiries": 0, "open_disputes": 0,
                                               "card_sales_same_month": 2, "card_transactions_prior_month": 0,
                                               "visa_ratio": 0, "mastercard_ratio": None}
    assert set(rows) == {(may, "mastercard", True), (june, "mastercard", True), (june, "visa", True),
                         (june, "other", True)}


def test_open_disputes_are_those_still_open_at_the_end_of_each_month():
    events = [paid("ch_1", at(20, month=5)),
              event("charge.dispute.created", dispute("dp_1", status="needs_response", created=at(25, month=5)),
                    at(25, month=5)),
              event("charge.dispute.closed", dispute("dp_1", status="won", created=at(25, month=5)), at(10)),
              event("charge.dispute.created", dispute("dp_2", status="needs_response", created=at(12)), at(12)),
              event("charge.dispute.closed", dispute("dp_2", status="lost", created=at(12)), at(20)),
              paid("ch_9", at(3, month=7), brand="amex")]  # the last reporting day is July 3rd

    rows = expected_dispute_metrics(events)

    # dp_1 is open at the end of May, closed on June 10th; dp_2 opened and closed in June. July has nothing
    # for visa (no sale, no dispute, no June sale), so no row.
    assert {k[0].month: v["open_disputes"] for k, v in rows.items() if k[1] == "visa"} == {5: 1, 6: 0}
    assert {k[0].month: v["disputes"] for k, v in rows.items() if k[1] == "visa"} == {5: 1, 6: 1}
    assert rows[(date(2026, 6, 1), "visa", True)]["card_transactions_prior_month"] == 1


# -- webhook_health -------------------------------------------------------------------------------------------

def test_webhook_health_counts_per_hour_of_arrival():
    log = [{"received_at": utc(1, 10, 0), "status": "processed"}, {"received_at": utc(1, 10, 59), "status": "failed"},
           {"received_at": utc(1, 11, 0), "status": "retrying"}, {"received_at": utc(1, 11, 30), "status": "received"}]

    assert expected_webhook_health(log) == {
        utc(1, 10): {"received": 2, "processed": 1, "failed": 1, "retrying": 0},
        utc(1, 11): {"received": 2, "processed": 0, "failed": 0, "retrying": 1},
    }


# -- student_payment_summary ----------------------------------------------------------------------------------

def test_student_summary_adds_up_the_students_charges_per_currency_and_mode():
    events = [paid("ch_1", at(1), amount=1000, student="7"), paid("ch_2", at(5), amount=3000, student="7"),
              event("charge.refunded", charge("ch_2", created=at(5), amount=3000, amount_refunded=500, student="7"),
                    at(6)),
              declined("ch_3", at(7), student="7"),
              event("charge.succeeded", charge("ch_4", created=at(9), captured=False, student="7"), at(9)),
              paid("ch_5", at(2), amount=5000, currency="eur", student="7"),
              paid("ch_6", at(2), amount=200, student="8", livemode=False),
              event("charge.dispute.created", dispute(status="needs_response", charge_id="ch_1"), at(3)),
              event("charge.dispute.closed", dispute(status="lost", charge_id="ch_1", amount=600), at(8)),
              event("charge.dispute.created", dispute("dp_2", status="warning_needs_response", charge_id="ch_2"),
                    at(8))]

    rows = expected_student_payment_summary(events)

    # net = gross − refunds − dispute losses (decision 5); the inquiry is a dispute but no loss
    assert rows[("7", "usd", True)] == {"gross_amount_minor": 4000, "refunded_amount_minor": 500,
                                        "dispute_loss_amount_minor": 600, "net_amount_minor": 2900,
                                        "failed_attempts": 1, "disputes": 2, "last_payment_at": utc(5)}
    assert rows[("7", "eur", True)]["gross_amount_minor"] == 5000
    assert rows[("8", "usd", False)]["net_amount_minor"] == 200
    assert len(rows) == 3


# -- reconciliation_exceptions --------------------------------------------------------------------------------

PURCHASE_CREATED_AT = utc(1)


def purchase(pid: int, status: str, amount: str, currency: str = "usd", charge_id: str | None = None,
             pi: str | None = None, created_at: datetime = PURCHASE_CREATED_AT) -> dict:
    return {"id": pid, "payment_status": status, "amount": Decimal(amount), "currency": currency,
            "stripe_charge_id": charge_id, "stripe_payment_intent_id": pi, "livemode": True,
            "created_at": created_at}


def test_reconciliation_flags_each_kind_of_disagreement_and_nothing_that_agrees():
    events = [paid("ch_ok", at(1), amount=1234, purchase="1"),
              paid("ch_kwd", at(1), amount=10500, currency="kwd", purchase="2"),
              paid("ch_coupon", at(1), amount=900, purchase="3"),
              declined("ch_declined", at(1), purchase="4"),
              paid("ch_orphan", at(1), purchase=None),
              declined("ch_retry_failed", at(1), purchase="6"), paid("ch_retry_ok", at(1, minute=5), purchase="6"),
              event("charge.succeeded", charge("ch_auth", captured=False, purchase="7"), at(1)),
              paid("ch_refunded", at(1), purchase="8"),
              event("charge.refunded", charge("ch_refunded", amount_refunded=1000, purchase="8"), at(2)),
              event("payment_intent.canceled", intent("pi_9", status="canceled"), at(1)),
              event("payment_intent.created", intent("pi_10"), at(1)),
              event("payment_intent.created", intent("pi_11", created=at(5)), at(5)),  # the newest event: "now"
              paid("ch_eur", at(1), purchase="12"),
              declined("ch_13", at(1), purchase="13", pi="pi_13"),
              event("payment_intent.canceled", intent("pi_13", status="canceled"), at(2))]
    purchases = [purchase(1, "completed", "12.34", charge_id="ch_ok"),
                 purchase(2, "completed", "10.500", "kwd", charge_id="ch_kwd"),
                 purchase(3, "completed", "10.00", charge_id="ch_coupon"),
                 purchase(4, "completed", "10.00", charge_id="ch_declined"),
                 purchase(5, "completed", "10.00", charge_id="ch_never_sent"),
                 purchase(6, "completed", "10.00", charge_id="ch_retry_ok"),
                 purchase(7, "processing", "10.00", charge_id="ch_auth"),
                 purchase(8, "refunded", "10.00", charge_id="ch_refunded"),
                 purchase(9, "cancelled", "10.00", pi="pi_9"),
                 purchase(10, "completed", "10.00", pi="pi_10"),  # Stripe in flight for 4 days
                 purchase(11, "completed", "10.00", pi="pi_11", created_at=utc(5)),  # in flight, but young
                 purchase(12, "completed", "10.00", "eur", charge_id="ch_eur"),
                 purchase(13, "failed", "10.00", charge_id="ch_13", pi="pi_13"),
                 purchase(14, "completed", "10.00")]  # paid, but Stripe knows nothing of it

    assert expected_reconciliation_exceptions(events, purchases) == {
        ("amount_mismatch", 3, "ch_coupon"), ("status_mismatch", 4, "ch_declined"),
        ("missing_in_stripe", 5, "ch_never_sent"), ("missing_in_app", None, "ch_orphan"),
        ("status_mismatch", 10, None), ("currency_mismatch", 12, "ch_eur"), ("status_mismatch", 13, "ch_13"),
        ("missing_in_stripe", 14, None)}


def test_app_status_implied_by_stripe():
    assert app_status_from_stripe(intent(status="canceled"), None) == "cancelled"
    assert app_status_from_stripe(intent(), None) == "in_flight"
    assert app_status_from_stripe(intent(status="canceled"), charge(status="failed")) == "cancelled"
    assert app_status_from_stripe(intent(), charge(status="failed")) == "failed"
    assert app_status_from_stripe(None, charge(captured=False)) == "in_flight"
    assert app_status_from_stripe(None, charge(captured=False, amount_refunded=1000)) == "cancelled"
    assert app_status_from_stripe(None, charge(amount_refunded=999)) == "completed"


def test_planted_disagreements_map_to_exception_types():
    from demo.generate import Disagreement

    planted = [Disagreement("completed_but_failed", 27, "ch_a"), Disagreement("charge_without_purchase", None, "ch_b"),
               Disagreement("amount_mismatch", 25, "ch_c")]
    assert planted_exceptions(planted) == {("status_mismatch", 27, "ch_a"), ("missing_in_app", None, "ch_b"),
                                           ("amount_mismatch", 25, "ch_c")}


# -- fraud_signals --------------------------------------------------------------------------------------------

RULES = [FraudRule("card_testing", 40, Decimal(3), 60, Decimal(10)), FraudRule("many_cards", 20, Decimal(3), 43200),
         FraudRule("failure_velocity", 25, Decimal(5), 1440), FraudRule("amount_outlier", 15, Decimal(3)),
         FraudRule("radar_risk", 30), FraudRule("prior_disputes", 35, Decimal(1))]


def test_fraud_rules_fire_as_the_seed_describes_and_the_score_is_their_capped_sum():
    events = [
        paid("ch_1", at(1), fingerprint="fp_a", amount=1000),
        paid("ch_2", at(2), fingerprint="fp_b", amount=1000),
        paid("ch_3", at(3), fingerprint="fp_c", amount=3001, risk_level="elevated"),  # 3 cards; > 3 x 1000
        paid("ch_4", at(3, month=7), fingerprint="fp_d", amount=1000),  # 30 days later: a, b, c out of the window
        event("charge.dispute.created", dispute(status="warning_needs_response", charge_id="ch_1", created=at(2, 13)),
              at(2, 13)),
        *[declined(f"ch_small_{n}", at(10, minute=n), amount=900, customer="cus_2", fingerprint="fp_x")
          for n in range(5)],
    ]

    rows = expected_fraud_signals(events, RULES)

    assert rows["ch_1"] == {"rules_fired": set(), "risk_score": 0}
    assert rows["ch_2"] == {"rules_fired": set(), "risk_score": 0}  # the dispute came an hour later
    assert rows["ch_3"] == {"rules_fired": {"many_cards", "amount_outlier", "radar_risk", "prior_disputes"},
                            "risk_score": 100}  # 20 + 15 + 30 + 35 = 100
    assert rows["ch_4"] == {"rules_fired": {"prior_disputes"}, "risk_score": 35}
    assert rows["ch_small_1"]["rules_fired"] == set()
    assert rows["ch_small_2"]["rules_fired"] == {"card_testing"}
    assert rows["ch_small_4"] == {"rules_fired": {"card_testing", "failure_velocity"}, "risk_score": 65}


def test_a_rule_missing_from_the_seed_never_fires():
    events = [paid("ch_1", at(1), risk_level="highest")]
    assert expected_fraud_signals(events, [r for r in RULES if r.rule_name != "radar_risk"])["ch_1"][
        "rules_fired"] == set()


@pytest.mark.parametrize("timezone, day", [("UTC", date(2026, 6, 2)), (SP, date(2026, 6, 1))])
def test_the_reporting_day_depends_on_the_zone(timezone, day):
    assert expected_fct_charges([paid("ch_1", at(2, hour=1))], timezone)["ch_1"]["created_day"] == day


def refund_obj(rid: str, amount: int, created: int, status: str = "succeeded") -> dict:
    return {"id": rid, "object": "refund", "charge": "ch_1", "amount": amount, "created": created, "status": status,
            "currency": "usd", "livemode": True, "reason": "requested_by_customer"}


def test_each_increment_is_named_by_the_nth_refund_of_its_amount_and_a_failure_by_the_failed_refund():
    events = [paid("ch_1", at(1), amount=3000),
              event("refund.created", refund_obj("re_2", 1000, at(3)), at(3)),
              event("refund.created", refund_obj("re_1", 1000, at(2)), at(2)),
              event("refund.created", refund_obj("re_3", 500, at(4), "pending"), at(4)),
              event("refund.failed", refund_obj("re_3", 500, at(4), "failed"), at(6)),
              event("charge.refunded", charge(amount=3000, amount_refunded=1000), at(2)),
              event("charge.refunded", charge(amount=3000, amount_refunded=2000), at(3)),
              event("charge.refunded", charge(amount=3000, amount_refunded=2500), at(4)),
              event("charge.updated", charge(amount=3000, amount_refunded=2000), at(6)),
              event("charge.refunded", charge(amount=3000, amount_refunded=2300), at(7))]  # no refund object seen

    from oracle_marts import expected_refund_names

    assert expected_refund_names(events) == {
        ("ch_1", utc(2), 1000, "re_1", "succeeded", "requested_by_customer"): 1,
        ("ch_1", utc(3), 1000, "re_2", "succeeded", "requested_by_customer"): 1,
        ("ch_1", utc(4), 500, "re_3", "failed", "requested_by_customer"): 1,
        ("ch_1", utc(6), -500, "re_3", "failed", "requested_by_customer"): 1,
        ("ch_1", utc(7), 300, None, None, None): 1,
    }


def test_gross_growth_rate_like_net_growth_rate():
    events = [paid("ch_1", at(1), amount=1000), paid("ch_2", at(8), amount=1500)]  # Mondays June 1st and 8th

    rows = expected_revenue_trends(events)

    assert rows[("week", date(2026, 6, 8), "usd", True)]["gross_growth_rate"] == Fraction(1, 2)
    assert rows[("week", date(2026, 6, 1), "usd", True)]["gross_growth_rate"] is None


THRESHOLDS = [
    {"network": "visa", "level": "excessive", "severity": 2, "min_count": 1500, "max_count": None,
     "ratio_threshold": Decimal("0.022"), "regions": "all", "valid_from": date(2025, 4, 1)},
    {"network": "visa", "level": "excessive", "severity": 2, "min_count": 1500, "max_count": None,
     "ratio_threshold": Decimal("0.015"), "regions": "us|ca|eu", "valid_from": date(2026, 4, 1)},
    {"network": "mastercard", "level": "early_warning", "severity": 1, "min_count": 100, "max_count": None,
     "ratio_threshold": Decimal("0.010"), "regions": "all", "valid_from": date(1970, 1, 1)},
    {"network": "mastercard", "level": "excessive", "severity": 2, "min_count": 100, "max_count": 299,
     "ratio_threshold": Decimal("0.015"), "regions": "all", "valid_from": date(1970, 1, 1)},
    {"network": "mastercard", "level": "high_excessive", "severity": 3, "min_count": 300, "max_count": None,
     "ratio_threshold": Decimal("0.030"), "regions": "all", "valid_from": date(1970, 1, 1)},
]


@pytest.mark.parametrize("network, month, disputes, ratio, region, status", [
    ("visa", date(2026, 6, 1), 1600, Fraction(16, 1000), "eu", "excessive"),  # 1.6 % >= 1.5 % from April 2026
    ("visa", date(2026, 6, 1), 1600, Fraction(16, 1000), "br", "ok"),  # elsewhere still 2.2 %
    ("visa", date(2026, 3, 1), 1600, Fraction(16, 1000), "eu", "ok"),  # before April 2026: 2.2 %
    ("visa", date(2026, 6, 1), 1400, Fraction(5, 100), "eu", "ok"),  # too few
    ("mastercard", date(2026, 6, 1), 150, Fraction(2, 100), "eu", "excessive"),
    ("mastercard", date(2026, 6, 1), 350, Fraction(2, 100), "eu", "early_warning"),  # above excessive's max, < 3 %
    ("mastercard", date(2026, 6, 1), 350, Fraction(3, 100), "eu", "high_excessive"),
    ("mastercard", date(2026, 6, 1), 150, None, "eu", "ok"),  # no prior-month transactions
    ("other", date(2026, 6, 1), 5000, Fraction(1), "eu", "ok"),
])
def test_threshold_status(network, month, disputes, ratio, region, status):
    from oracle_marts import expected_threshold_status

    assert expected_threshold_status(network, month, disputes, ratio, THRESHOLDS, region) == status


def test_an_intent_alone_starts_no_series_so_it_has_no_intent_rate_row():
    events = [event("payment_intent.created", intent("pi_1", created=at(1), currency="eur"), at(1)),
              event("payment_intent.created", intent("pi_2", created=at(1)), at(1)),
              declined("ch_1", at(2), pi="pi_3"), event("payment_intent.created", intent("pi_3", created=at(2)), at(2))]

    rows = expected_payments_daily_extensions(events)

    # usd's series starts on June 2nd (its first charge); eur has no series at all (decision 11)
    assert rows == {(date(2026, 6, 2), "usd", True): {"payment_intents": 1, "payment_intents_succeeded": 0,
                                                       "intent_success_rate": 0}}


def test_growth_over_a_negative_previous_net_is_measured_against_its_size():
    # Week of June 1st: a refund of last week's sale makes its net −3000; the week of June 8th nets +1000.
    events = [paid("ch_1", at(28, month=5), amount=3000),  # Thursday of the week of May 25th
              event("charge.refunded", charge("ch_1", created=at(28, month=5), amount=3000, amount_refunded=3000),
                    at(2)),
              paid("ch_2", at(9), amount=1000)]

    rows = expected_revenue_trends(events)

    assert rows[("week", date(2026, 6, 1), "usd", True)]["net_amount_minor"] == -3000
    # (net − prev) / |prev| = (1000 + 3000) / 3000: a rise from a loss is growth (net / prev − 1 would say −4/3)
    assert rows[("week", date(2026, 6, 8), "usd", True)]["net_growth_rate"] == Fraction(4, 3)
