"""The dbt project on a real (embedded) Postgres: it builds on an empty raw schema, and on hand-written
Stripe events that exercise the edge cases payments_daily must get right (see docs/decisions.md)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from conftest import dbt

import payops.db
from ingest.processing import process_pending
from payops.settings import Settings

API_VERSION = "2026-07-29.dahlia"

DAY_1 = datetime(2026, 3, 1, tzinfo=UTC)


def at(day: int, hour: int, second: int = 0) -> int:
    """Unix seconds on March `day`, 2026, UTC (Stripe's `created`)."""
    return int((DAY_1 + timedelta(days=day - 1, hours=hour, seconds=second)).timestamp())


def charge(charge_id, *, status, amount, currency="usd", captured=True, amount_refunded=0, created, livemode=True):
    return {
        "id": charge_id,
        "object": "charge",
        "amount": amount,
        "amount_captured": amount if captured and status == "succeeded" else 0,
        "amount_refunded": amount_refunded,
        "balance_transaction": f"txn_{charge_id}" if status == "succeeded" else None,
        "captured": captured,
        "created": created,
        "currency": currency,
        "customer": "cus_family1",
        "disputed": False,
        "failure_code": "card_declined" if status == "failed" else None,
        "livemode": livemode,
        "metadata": {"purchase_transaction_id": "1", "student_id": "1"},
        "outcome": {"type": "issuer_declined" if status == "failed" else "authorized", "reason": None},
        "paid": status == "succeeded",
        "payment_intent": f"pi_{charge_id}",
        "refunded": amount_refunded == amount,
        "status": status,
    }


def refund(refund_id, *, charge_id, amount, created, status="succeeded"):
    return {
        "id": refund_id,
        "object": "refund",
        "amount": amount,
        "balance_transaction": f"txn_{refund_id}",
        "charge": charge_id,
        "created": created,
        "currency": "usd",
        "metadata": {},
        "payment_intent": f"pi_{charge_id}",
        "reason": "requested_by_customer",
        "status": status,
    }


def balance_transaction(txn_id, *, dispute_id, amount, fee, created, category):
    return {
        "id": txn_id,
        "object": "balance_transaction",
        "amount": amount,
        "fee": fee,
        "net": amount - fee,
        "currency": "usd",
        "created": created,
        "reporting_category": category,
        "source": dispute_id,
        "type": "adjustment",
    }


def dispute(dispute_id, *, charge_id, amount, status, created, balance_transactions):
    return {
        "id": dispute_id,
        "object": "dispute",
        "amount": amount,
        "balance_transactions": balance_transactions,
        "charge": charge_id,
        "created": created,
        "currency": "usd",
        "evidence_details": {
            "due_by": created + 7 * 86400, "has_evidence": False, "past_due": False, "submission_count": 0,
        },
        "is_charge_refundable": False,
        "livemode": True,
        "metadata": {},
        "payment_intent": f"pi_{charge_id}",
        "payment_method_details": {
            "card": {"brand": "visa", "case_type": "chargeback", "network_reason_code": "10.4"}, "type": "card",
        },
        "reason": "fraudulent",
        "status": status,
    }


def event(event_id, event_type, created, obj, previous_attributes=None):
    data = {"object": obj}
    if previous_attributes is not None:
        data["previous_attributes"] = previous_attributes
    return {
        "id": event_id,
        "object": "event",
        "api_version": API_VERSION,
        "created": created,
        "data": data,
        "livemode": obj.get("livemode", True),
        "pending_webhooks": 0,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }


withdrawn = balance_transaction("txn_withdrawn", dispute_id="dp_lost", amount=-4000, fee=1500, created=at(3, 9),
                                category="dispute")
withdrawn_won = balance_transaction("txn_withdrawn_won", dispute_id="dp_won", amount=-1000, fee=1500, created=at(2, 15),
                                    category="dispute")
reinstated = balance_transaction("txn_reinstated", dispute_id="dp_won", amount=1000, fee=-1500, created=at(4, 15),
                                 category="dispute_reversal")

# Listed in ARRIVAL order, which deliberately disagrees with `created` in places.
EVENTS = [
    # Refunded in two steps, the second step delivered first, each step echoed by refund.created.
    event("evt_full_refund_rest", "charge.refunded", at(4, 9),
          charge("ch_full", status="succeeded", amount=10000, amount_refunded=10000, created=at(1, 10)),
          {"amount_refunded": 3000}),
    event("evt_full_succeeded", "charge.succeeded", at(1, 10),
          charge("ch_full", status="succeeded", amount=10000, created=at(1, 10))),
    event("evt_full_refund_part", "charge.refunded", at(3, 9),
          charge("ch_full", status="succeeded", amount=10000, amount_refunded=3000, created=at(1, 10)),
          {"amount_refunded": 0}),
    event("evt_refund_1_created", "refund.created", at(3, 9),
          refund("re_1", charge_id="ch_full", amount=3000, created=at(3, 9))),
    event("evt_refund_2_created", "refund.created", at(4, 9),
          refund("re_2", charge_id="ch_full", amount=7000, created=at(4, 9))),
    event("evt_full_updated", "charge.updated", at(4, 9, 30),
          charge("ch_full", status="succeeded", amount=10000, amount_refunded=10000, created=at(1, 10)),
          {"description": None}),
    # An authorization never captured, then released: a successful attempt, no money.
    event("evt_auth_succeeded", "charge.succeeded", at(1, 11),
          charge("ch_auth", status="succeeded", captured=False, amount=5000, created=at(1, 11))),
    event("evt_auth_expired", "charge.expired", at(2, 11),
          charge("ch_auth", status="succeeded", captured=False, amount=5000, amount_refunded=5000, created=at(1, 11)),
          {"amount_refunded": 0}),
    event("evt_fail", "charge.failed", at(1, 12),
          charge("ch_fail", status="failed", captured=False, amount=2000, created=at(1, 12))),
    event("evt_pending", "charge.pending", at(2, 8),
          charge("ch_pending", status="pending", captured=False, amount=2500, created=at(2, 8))),
    # The newer state arrives before the older one.
    event("evt_late_succeeded", "charge.succeeded", at(2, 12, 5),
          charge("ch_late", status="succeeded", amount=1500, created=at(2, 12))),
    event("evt_late_pending", "charge.pending", at(2, 12),
          charge("ch_late", status="pending", captured=False, amount=1500, created=at(2, 12))),
    # Disputed and lost: funds withdrawn with a fee on day 3, closed lost on day 5, repeated on day 6.
    event("evt_disputed_succeeded", "charge.succeeded", at(2, 10),
          charge("ch_disputed", status="succeeded", amount=4000, created=at(2, 10))),
    event("evt_dp_lost_created", "charge.dispute.created", at(3, 9),
          dispute("dp_lost", charge_id="ch_disputed", amount=4000, status="needs_response", created=at(3, 9),
                  balance_transactions=[])),
    event("evt_dp_lost_withdrawn", "charge.dispute.funds_withdrawn", at(3, 9, 1),
          dispute("dp_lost", charge_id="ch_disputed", amount=4000, status="needs_response", created=at(3, 9),
                  balance_transactions=[withdrawn])),
    event("evt_dp_lost_updated", "charge.dispute.updated", at(6, 9),
          dispute("dp_lost", charge_id="ch_disputed", amount=4000, status="lost", created=at(3, 9),
                  balance_transactions=[withdrawn])),
    event("evt_dp_lost_closed", "charge.dispute.closed", at(5, 10),
          dispute("dp_lost", charge_id="ch_disputed", amount=4000, status="lost", created=at(3, 9),
                  balance_transactions=[withdrawn])),
    # Disputed and won: the fee is returned with the funds.
    event("evt_dp_won_created", "charge.dispute.created", at(2, 15),
          dispute("dp_won", charge_id="ch_full", amount=1000, status="needs_response", created=at(2, 15),
                  balance_transactions=[withdrawn_won])),
    event("evt_dp_won_closed", "charge.dispute.closed", at(4, 15),
          dispute("dp_won", charge_id="ch_full", amount=1000, status="won", created=at(2, 15),
                  balance_transactions=[withdrawn_won, reinstated])),
    # Test mode, a zero-decimal and a three-decimal currency.
    event("evt_test_mode", "charge.succeeded", at(1, 10),
          charge("ch_test", status="succeeded", amount=999, created=at(1, 10), livemode=False)),
    event("evt_yen", "charge.succeeded", at(2, 10),
          charge("ch_yen", status="succeeded", amount=5000, currency="jpy", created=at(2, 10))),
    event("evt_dinar", "charge.succeeded", at(1, 10),
          charge("ch_dinar", status="succeeded", amount=1234, currency="kwd", created=at(1, 10))),
]

COLUMNS = (
    "charge_attempts, charges_succeeded, charges_failed, gross_amount_minor, refunded_amount_minor,"
    " dispute_loss_amount_minor, net_amount_minor, dispute_fee_amount_minor"
)
# (currency, livemode) -> {March day: (attempts, succeeded, failed, gross, refunded, dispute_loss, net, dispute_fee)}
ZERO = (0, 0, 0, 0, 0, 0, 0, 0)
EXPECTED = {
    ("usd", True): {
        1: (3, 2, 1, 10000, 0, 0, 10000, 0),
        2: (3, 2, 0, 5500, 0, 0, 5500, 1500),
        3: (0, 0, 0, 0, 3000, 0, -3000, 1500),
        4: (0, 0, 0, 0, 7000, 0, -7000, -1500),
        5: (0, 0, 0, 0, 0, 4000, -4000, 0),
        6: ZERO,
    },
    ("usd", False): {1: (1, 1, 0, 999, 0, 0, 999, 0), **{d: ZERO for d in range(2, 7)}},
    ("jpy", True): {2: (1, 1, 0, 5000, 0, 0, 5000, 0), **{d: ZERO for d in range(3, 7)}},
    ("kwd", True): {1: (1, 1, 0, 1234, 0, 0, 1234, 0), **{d: ZERO for d in range(2, 7)}},
}


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    home = tmp_path_factory.mktemp("payops_home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PAYOPS_HOME", str(home))
        mp.setenv("PAYOPS_TIMEZONE", "UTC")
        mp.delenv("WAREHOUSE_URL", raising=False)
        settings = Settings.from_env()
        eng = payops.db.ready_engine(settings)
        try:
            yield eng, settings, home / "dbt_target"
        finally:
            eng.dispose()
            payops.db.stop_embedded(settings)


def insert_events(eng: sa.Engine, events: list[dict]) -> None:
    """Store the events as ingest does, then process them into the state tables dbt's staging reads."""
    arrival = datetime(2026, 3, 10, tzinfo=UTC)
    with eng.begin() as conn:
        for position, evt in enumerate(events):
            obj = evt["data"]["object"]
            conn.execute(
                sa.text(
                    "insert into raw.stripe_events"
                    " (event_id, event_type, api_version, livemode, created_at, object_type, object_id, payload,"
                    " received_at, source)"
                    " values (:event_id, :event_type, :api_version, :livemode, to_timestamp(:created), :object_type,"
                    " :object_id, cast(:payload as jsonb), :received_at, 'replay')"
                ),
                {
                    "event_id": evt["id"], "event_type": evt["type"], "api_version": evt["api_version"],
                    "livemode": evt["livemode"], "created": evt["created"], "object_type": obj["object"],
                    "object_id": obj["id"], "payload": json.dumps(evt),
                    "received_at": arrival + timedelta(seconds=position),
                },
            )
            conn.execute(sa.text("insert into ops.webhook_event_log (event_id, received_at)"
                                 " values (:event_id, :received_at)"),
                         {"event_id": evt["id"], "received_at": arrival + timedelta(seconds=position)})
    result = process_pending(eng)
    assert result.processed == len(events) and not result.failed, result.summary()


def test_dbt_builds_on_empty_raw_then_on_edge_cases(warehouse):
    eng, settings, target = warehouse

    dbt(settings, target, "seed")
    dbt(settings, target, "build")  # empty raw: models, unit tests and data tests
    with eng.connect() as conn:
        assert conn.execute(sa.text("select count(*) from analytics.payments_daily")).scalar() == 0

    insert_events(eng, EVENTS)
    dbt(settings, target, "build")  # includes the conservation test and the contract

    with eng.connect() as conn:
        rows = conn.execute(sa.text(f"select day, currency, livemode, {COLUMNS} from analytics.payments_daily")).all()
        actual = {(r.currency, r.livemode, r.day): tuple(r[3:]) for r in rows}
        expected = {
            (currency, livemode, date(2026, 3, day)): values
            for (currency, livemode), days in EXPECTED.items()
            for day, values in days.items()
        }
        assert actual == expected

        amounts = {
            (r.currency, r.day.day): (r.gross_amount, r.net_amount, r.attempt_success_rate)
            for r in conn.execute(sa.text(
                "select day, currency, gross_amount, net_amount, attempt_success_rate"
                " from analytics.payments_daily where livemode"
            ))
        }
        assert amounts[("usd", 1)] == (Decimal("100.00"), Decimal("100.00"), Decimal("0.6667"))
        assert amounts[("usd", 4)] == (Decimal("0.00"), Decimal("-70.00"), None)
        assert amounts[("jpy", 2)] == (Decimal("5000"), Decimal("5000"), Decimal("1.0000"))
        assert amounts[("kwd", 1)] == (Decimal("1.234"), Decimal("1.234"), Decimal("1.0000"))

        refunds_total = conn.execute(sa.text(
            "select sum(refunded_amount_minor) from analytics.int_stripe__charge_refund_increments"
            " where charge_id = 'ch_full'"
        )).scalar()
        assert refunds_total == 10000  # the newest cumulative value, whatever the arrival order


def test_every_table_a_build_creates_has_planner_statistics(warehouse):
    """A table a build has just created has no statistics until autovacuum gets to it, maybe minutes later, and
    the planner would guess a third of its rows pass each incremental build's watermark filter; the models'
    post-hook analyzes it. Some tables hold no rows here, and an empty table gets no statistics."""
    eng, settings, target = warehouse
    insert_events(eng, [{**EVENTS[0], "id": "evt_statistics_probe"}])
    dbt(settings, target, "run", "--full-refresh")

    with eng.connect() as conn:
        tables = conn.execute(sa.text(
            "select c.relname,"
            " exists (select from pg_stats s where s.schemaname = n.nspname and s.tablename = c.relname)"
            " from pg_class c join pg_namespace n on n.oid = c.relnamespace"
            " where n.nspname = 'analytics' and c.relkind = 'r'"
        )).all()
        filled = {name for name, _ in tables
                  if conn.execute(sa.text(f'select exists (select from analytics."{name}")')).scalar()}
    analyzed = {name for name, has_statistics in tables if has_statistics}
    assert {"stg_stripe__events", "fct_charges", "payments_daily"} <= filled
    assert filled - {"currencies", "network_thresholds", "fraud_rule_thresholds"} <= analyzed


def test_each_table_rebuilt_whole_holds_its_grain_in_a_unique_index(warehouse):
    """The grain each model documents is a unique index, built before the new table replaces the old one, so a
    duplicate fails the build instead of waiting for a test that scans the table (decision 19)."""
    eng, settings, target = warehouse
    grains = {
        "payments_daily": ["day", "currency", "livemode"],
        "failure_analysis": ["day", "currency", "livemode", "dimension", "dimension_value"],
        "dispute_metrics": ["month", "network", "livemode"],
        "revenue_trends": ["period_type", "period_start", "currency", "livemode"],
        "fct_disputes": ["dispute_id"],
        "int_stripe__reporting_days": ["day"],
        "stg_stripe__dispute_balance_transactions": ["balance_transaction_id"],
        "stg_stripe__balance_transactions": ["balance_transaction_id"],
        "stg_stripe__payouts": ["payout_id"],
        "fct_balance_transactions": ["balance_transaction_id"],
        "fct_payouts": ["payout_id"],
        "balance_change_from_activity": ["balance_transaction_id"],
    }
    with eng.connect() as conn:
        unique_indexes = conn.execute(sa.text(
            "select t.relname, array_agg(a.attname order by k.position)"
            " from pg_index i join pg_class t on t.oid = i.indrelid join pg_namespace n on n.oid = t.relnamespace"
            " cross join lateral unnest(i.indkey) with ordinality as k(attnum, position)"
            " join pg_attribute a on a.attrelid = t.oid and a.attnum = k.attnum"
            " where n.nspname = 'analytics' and i.indisunique group by t.relname, i.indexrelid"
        )).all()
    assert {table: grain for table, grain in unique_indexes if table in grains} == grains


def test_a_value_the_contract_refuses_fails_the_build_by_name_and_keeps_the_table(warehouse):
    """Staging enforces its allowed values as the rows are written (decision 19): a charge state Stripe's charge
    statuses do not include fails the model with the constraint named, and the table keeps its rows."""
    eng, settings, target = warehouse
    probe = {**EVENTS[0], "id": "evt_contract_probe"}
    charge_id = probe["data"]["object"]["id"]
    insert_events(eng, [probe])
    dbt(settings, target, "run", "--select", "stg_stripe__charges", "--full-refresh")
    staged = "select status from analytics.stg_stripe__charges where charge_id = :id"
    with eng.connect() as conn:
        status_before = conn.execute(sa.text(staged), {"id": charge_id}).scalar_one()
        rows_before = conn.execute(sa.text("select count(*) from analytics.stg_stripe__charges")).scalar_one()

    with eng.begin() as conn:
        conn.execute(sa.text("update raw.stripe_charges set object = jsonb_set(object, '{status}', '\"mystery\"'),"
                             " updated_at = now() where id = :id"), {"id": charge_id})
    try:
        result = dbt(settings, target, "run", "--select", "stg_stripe__charges", check=False)
        assert result.returncode != 0
        assert "violates check constraint" in result.stdout and "stg_stripe__charges" in result.stdout
        with eng.connect() as conn:
            assert conn.execute(sa.text(staged), {"id": charge_id}).scalar_one() == status_before
            rows_after = conn.execute(sa.text("select count(*) from analytics.stg_stripe__charges")).scalar_one()
            assert rows_after == rows_before
    finally:
        with eng.begin() as conn:
            conn.execute(sa.text("update raw.stripe_charges set object = jsonb_set(object, '{status}', to_jsonb("
                                 "cast(:status as text))), updated_at = now() where id = :id"),
                         {"id": charge_id, "status": status_before})
