"""The oracle's rules, one per test, on hand-written Stripe-shaped events with hand-computed figures."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from itertools import count
from pathlib import Path

import pytest
from oracle import Figures, expected_payments_daily, read_events

pytestmark = pytest.mark.fast

JUNE_1, JUNE_2, JUNE_3, JUNE_5, JUNE_7 = (date(2026, 6, d) for d in (1, 2, 3, 5, 7))
_event_numbers = count(1)


def at(day: date, hour: int = 12, minute: int = 0, second: int = 0) -> int:
    return int(datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=UTC).timestamp())


def event(type_: str, obj: dict, created: int, event_id: str | None = None) -> dict:
    """A Stripe event envelope around obj, with the fields of the real ones (stripe_fixtures/event.json)."""
    return {
        "id": event_id or f"evt_{next(_event_numbers):06d}",
        "object": "event",
        "api_version": "2026-07-29",
        "created": created,
        "data": {"object": obj},
        "livemode": obj["livemode"],
        "pending_webhooks": 0,
        "request": {"id": None, "idempotency_key": None},
        "type": type_,
    }


def charge(charge_id: str = "ch_1", *, created: int = at(JUNE_1), status: str = "succeeded",
           captured: bool = True, amount: int = 1000, amount_refunded: int = 0, currency: str = "usd",
           livemode: bool = True) -> dict:
    return {"id": charge_id, "object": "charge", "created": created, "status": status, "captured": captured,
            "amount": amount, "amount_captured": amount if captured else 0, "amount_refunded": amount_refunded,
            "currency": currency, "livemode": livemode}


def dispute(dispute_id: str = "dp_1", *, status: str, charge_id: str = "ch_1", amount: int = 1000,
            currency: str = "usd", livemode: bool = True, balance_transactions: tuple[dict, ...] = ()) -> dict:
    return {"id": dispute_id, "object": "dispute", "charge": charge_id, "created": at(JUNE_2),
            "status": status, "amount": amount, "currency": currency, "livemode": livemode,
            "balance_transactions": list(balance_transactions)}


def fee_txn(txn_id: str, fee: int, created: int, currency: str = "usd") -> dict:
    return {"id": txn_id, "object": "balance_transaction", "fee": fee, "currency": currency, "created": created}


def succeeded(amount: int = 1000, **kwargs) -> dict:
    return event("charge.succeeded", charge(amount=amount, **kwargs), at(JUNE_1))


def one_paid_charge(amount: int) -> Figures:
    """A day's figures with one succeeded, captured charge of `amount` (minor units) and nothing else."""
    return Figures(charge_attempts=1, charges_succeeded=1, gross_amount_minor=amount, net_amount_minor=amount)


def test_read_events_reads_jsonl_and_json_files_and_folders_counting_each_id_once(tmp_path: Path) -> None:
    first, second = succeeded(), event("charge.refunded", charge(amount_refunded=300), at(JUNE_2))
    (tmp_path / "events-0001.jsonl").write_text(f"{json.dumps(first)}\n{json.dumps(second)}\n\n")
    folder = tmp_path / "events-0002"
    folder.mkdir()
    (folder / f"{first['id']}.json").write_text(json.dumps(first))  # a redelivery of the same event

    events = read_events([tmp_path])

    assert sorted(e["id"] for e in events) == sorted([first["id"], second["id"]])
    assert len(read_events([tmp_path / "events-0001.jsonl", folder])) == 2


def test_a_duplicated_event_is_counted_once() -> None:
    delivery = succeeded()
    refund = event("charge.refunded", charge(amount_refunded=300), at(JUNE_2))

    assert expected_payments_daily([delivery, delivery, refund, refund]) == {
        (JUNE_1, "usd", True): one_paid_charge(1000),
        (JUNE_2, "usd", True): Figures(refunded_amount_minor=300, net_amount_minor=-300),
    }


def test_refunds_delivered_in_reverse_order_keep_the_newest_cumulative_amount_on_their_own_days() -> None:
    partial = event("charge.refunded", charge(amount_refunded=300), at(JUNE_2))
    full = event("charge.refunded", charge(amount_refunded=1000), at(JUNE_3))

    assert expected_payments_daily([full, partial, succeeded()]) == {
        (JUNE_1, "usd", True): one_paid_charge(1000),
        (JUNE_2, "usd", True): Figures(refunded_amount_minor=300, net_amount_minor=-300),
        (JUNE_3, "usd", True): Figures(refunded_amount_minor=700, net_amount_minor=-700),
    }


def test_a_refund_object_next_to_charge_refunded_is_not_counted_again() -> None:
    refund = {"id": "re_1", "object": "refund", "charge": "ch_1", "amount": 400, "currency": "usd",
              "status": "succeeded", "created": at(JUNE_2), "livemode": True}
    events = [succeeded(), event("refund.created", refund, at(JUNE_2)),
              event("charge.refunded", charge(amount_refunded=400), at(JUNE_2))]

    assert expected_payments_daily(events)[(JUNE_2, "usd", True)] == Figures(refunded_amount_minor=400,
                                                                             net_amount_minor=-400)


def test_a_refund_failing_after_it_succeeded_is_a_negative_increment_on_the_day_it_failed() -> None:
    events = [succeeded(), event("charge.refunded", charge(amount_refunded=500), at(JUNE_2)),
              event("charge.updated", charge(amount_refunded=0), at(JUNE_3))]

    result = expected_payments_daily(events)

    assert result[(JUNE_2, "usd", True)] == Figures(refunded_amount_minor=500, net_amount_minor=-500)
    assert result[(JUNE_3, "usd", True)] == Figures(refunded_amount_minor=-500, net_amount_minor=500)


def test_an_uncaptured_authorization_is_a_successful_attempt_without_gross_and_its_release_is_no_refund() -> None:
    authorized = event("charge.succeeded", charge(captured=False), at(JUNE_1))
    released = event("charge.refunded", charge(captured=False, amount_refunded=1000), at(JUNE_2))

    assert expected_payments_daily([authorized, released]) == {
        (JUNE_1, "usd", True): Figures(charge_attempts=1, charges_succeeded=1),
    }


def test_failed_and_pending_charges_are_attempts_only_failed_ones_are_failures() -> None:
    events = [event("charge.failed", charge("ch_1", status="failed", captured=False), at(JUNE_1)),
              event("charge.pending", charge("ch_2", status="pending", captured=False), at(JUNE_1))]

    assert expected_payments_daily(events) == {
        (JUNE_1, "usd", True): Figures(charge_attempts=2, charges_failed=1),
    }


def test_within_one_second_the_further_along_charge_state_wins_whatever_the_event_ids() -> None:
    # The event ids sort the wrong way round, so only the tie-break on the charge's fields gets this right.
    captured = event("charge.captured", charge(captured=True), at(JUNE_1), event_id="evt_a")
    authorized = event("charge.succeeded", charge(captured=False), at(JUNE_1), event_id="evt_b")
    pending = event("charge.pending", charge(status="pending", captured=False), at(JUNE_1), event_id="evt_c")

    assert expected_payments_daily([pending, authorized, captured]) == {
        (JUNE_1, "usd", True): one_paid_charge(1000),
    }


def test_a_newer_event_wins_over_a_further_along_older_one() -> None:
    events = [event("charge.succeeded", charge(), at(JUNE_1)),
              event("charge.updated", charge(status="failed", captured=False), at(JUNE_1, second=1))]

    assert expected_payments_daily(events) == {(JUNE_1, "usd", True): Figures(charge_attempts=1, charges_failed=1)}


def test_attempts_and_gross_are_dated_on_the_charge_created_day_not_the_event_day() -> None:
    late_event = event("charge.succeeded", charge(created=at(JUNE_1, 23, 59, 59)), at(JUNE_2, 0, 0, 1))

    assert list(expected_payments_daily([late_event])) == [(JUNE_1, "usd", True)]


def test_a_zero_decimal_jpy_amount_stays_whole() -> None:
    assert expected_payments_daily([succeeded(5000, currency="jpy")]) == {
        (JUNE_1, "jpy", True): one_paid_charge(5000),
    }


def test_the_currency_key_is_lowercase() -> None:
    assert list(expected_payments_daily([succeeded(currency="EUR")])) == [(JUNE_1, "eur", True)]


def test_a_lost_dispute_counts_on_the_first_day_it_shows_lost_and_a_won_one_not_at_all() -> None:
    withdrawn_fee = fee_txn("txn_fee_1", 1500, at(JUNE_2))
    lost = [event("charge.dispute.created", dispute(status="needs_response", amount=800,
                                                    balance_transactions=(withdrawn_fee,)), at(JUNE_2)),
            event("charge.dispute.closed", dispute(status="lost", amount=800,
                                                   balance_transactions=(withdrawn_fee,)), at(JUNE_5)),
            # A later repeat of 'lost' must not move the loss.
            event("charge.dispute.updated", dispute(status="lost", amount=800,
                                                    balance_transactions=(withdrawn_fee,)), at(JUNE_7))]
    won = [event("charge.dispute.created", dispute("dp_2", status="needs_response", charge_id="ch_2"), at(JUNE_2)),
           event("charge.dispute.closed", dispute("dp_2", status="won", charge_id="ch_2"), at(JUNE_5))]

    assert expected_payments_daily(lost + won) == {
        (JUNE_2, "usd", True): Figures(dispute_fee_amount_minor=1500),
        (JUNE_5, "usd", True): Figures(dispute_loss_amount_minor=800, net_amount_minor=-800),
    }


def test_only_a_dispute_whose_latest_status_is_lost_is_a_loss() -> None:
    events = [event("charge.dispute.closed", dispute(status="lost"), at(JUNE_3)),
              event("charge.dispute.updated", dispute(status="won"), at(JUNE_5))]

    assert expected_payments_daily(events) == {}


def test_within_one_second_a_final_dispute_status_beats_an_open_one_whatever_the_event_ids() -> None:
    events = [event("charge.dispute.closed", dispute(status="lost"), at(JUNE_3), event_id="evt_a"),
              event("charge.dispute.updated", dispute(status="under_review"), at(JUNE_3), event_id="evt_b")]

    assert expected_payments_daily(events) == {
        (JUNE_3, "usd", True): Figures(dispute_loss_amount_minor=1000, net_amount_minor=-1000),
    }


def test_two_disputes_on_one_charge_are_two_losses() -> None:
    events = [event("charge.dispute.closed", dispute("dp_1", status="lost", amount=1000), at(JUNE_3)),
              event("charge.dispute.closed", dispute("dp_2", status="lost", amount=1000), at(JUNE_5))]

    assert expected_payments_daily(events) == {
        (JUNE_3, "usd", True): Figures(dispute_loss_amount_minor=1000, net_amount_minor=-1000),
        (JUNE_5, "usd", True): Figures(dispute_loss_amount_minor=1000, net_amount_minor=-1000),
    }


def test_dispute_fees_count_once_per_balance_transaction_in_its_own_currency_and_day() -> None:
    # A dispute on a eur charge settled in usd; the fee comes back when the dispute is won.
    withdrawn = fee_txn("txn_1", 1500, at(JUNE_2), currency="usd")
    reinstated = fee_txn("txn_2", -1500, at(JUNE_5), currency="usd")
    events = [event("charge.dispute.created", dispute(status="needs_response", currency="eur",
                                                      balance_transactions=(withdrawn,)), at(JUNE_2)),
              event("charge.dispute.updated", dispute(status="under_review", currency="eur",
                                                      balance_transactions=(withdrawn,)), at(JUNE_3)),
              event("charge.dispute.closed", dispute(status="won", currency="eur",
                                                     balance_transactions=(withdrawn, reinstated)), at(JUNE_5))]

    assert expected_payments_daily(events) == {
        (JUNE_2, "usd", True): Figures(dispute_fee_amount_minor=1500),
        (JUNE_5, "usd", True): Figures(dispute_fee_amount_minor=-1500),
    }


def test_test_mode_is_kept_apart_from_live_mode() -> None:
    live = succeeded(1000)
    test = event("charge.succeeded", charge("ch_test", amount=300, livemode=False), at(JUNE_1))
    test_loss = event("charge.dispute.closed", dispute(status="lost", amount=300, livemode=False), at(JUNE_2))

    assert expected_payments_daily([live, test, test_loss]) == {
        (JUNE_1, "usd", True): one_paid_charge(1000),
        (JUNE_1, "usd", False): one_paid_charge(300),
        (JUNE_2, "usd", False): Figures(dispute_loss_amount_minor=300, net_amount_minor=-300),
    }


def test_the_reporting_time_zone_moves_01_00_utc_to_the_previous_day_in_sao_paulo() -> None:
    # 01:00 UTC is 22:00 the evening before in São Paulo (UTC-3).
    events = [event("charge.succeeded", charge(created=at(JUNE_2, hour=1)), at(JUNE_2, hour=1)),
              event("charge.refunded", charge(created=at(JUNE_2, hour=1), amount_refunded=200), at(JUNE_3, hour=1))]
    attempt = one_paid_charge(1000)
    refund = Figures(refunded_amount_minor=200, net_amount_minor=-200)

    assert expected_payments_daily(events, timezone="America/Sao_Paulo") == {
        (JUNE_1, "usd", True): attempt, (JUNE_2, "usd", True): refund}
    assert expected_payments_daily(events) == {(JUNE_2, "usd", True): attempt, (JUNE_3, "usd", True): refund}
