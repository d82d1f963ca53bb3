"""Incremental models (stg_stripe__events, the event-history base models, the latest-state staging models,
int_stripe__charge_refund_increments, fct_charges, fct_refunds, fct_payment_intents, student_payment_summary,
fraud_signals, payments_daily, stg_ops__webhook_event_log, webhook_health, and the finance models: the staging of
balance transactions and payout itemizations, settlement, fct_balance_transactions, balance_change_from_activity and
fct_payouts), and failure_analysis, a table whose 7-day baselines late failures reach, give the same rows as a full
refresh after late and out-of-order events: build on part of the events and of the balance listing, made to look as
if they arrived over the generated days (so most are outside the lookback), load and process the rest (old `created`,
new arrival), build incrementally, then compare with a full refresh. The app's tables change in between too: a
purchase's currency is corrected (its student's row in the wrong currency must go) and a balance's hours are used. A
second round ages every arrival past the lookback and closes a dispute as lost, a change only the dispute's state
shows. The webhook models also follow a log row whose status alone changes, long after its event arrived.

Each scenario runs once, in a module fixture that keeps what every build left; each test then reads one late-event
path out of it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa
from conftest import dbt, embedded_warehouse

CHECKED_MODELS = ("stg_stripe__events", "base_stripe__charge_events", "base_stripe__dispute_events",
                      "stg_stripe__charges", "stg_stripe__payment_intents", "stg_stripe__refunds",
                      "stg_stripe__disputes",
                      "int_stripe__charge_refund_increments", "fct_charges", "fct_refunds", "fct_payment_intents",
                      "student_payment_summary", "fraud_signals", "stg_ops__webhook_event_log", "webhook_health",
                      "reconciliation_exceptions", "failure_analysis", "payments_daily",
                      "stg_stripe__balance_transactions", "stg_stripe__payout_balance_transactions",
                      "int_stripe__settlement_by_payment_day", "fct_balance_transactions",
                      "balance_change_from_activity", "fct_payouts")
CHANGED_BY_LATE_EVENTS = ("stg_stripe__events", "base_stripe__charge_events", "stg_stripe__charges",
                          "int_stripe__charge_refund_increments", "fct_charges", "fct_refunds", "fct_payment_intents",
                          "student_payment_summary", "fraud_signals", "stg_ops__webhook_event_log", "webhook_health",
                          "reconciliation_exceptions", "failure_analysis", "payments_daily",
                          "stg_stripe__balance_transactions", "stg_stripe__payout_balance_transactions",
                          "int_stripe__settlement_by_payment_day", "fct_balance_transactions",
                          "balance_change_from_activity", "fct_payouts")
SELECT = ("--select", "+fct_charges", "+fct_refunds", "+base_stripe__dispute_events", "+stg_stripe__payment_intents",
          "+stg_stripe__disputes", "+fct_payment_intents", "+student_payment_summary", "+fraud_signals",
          "+webhook_health", "+reconciliation_exceptions", "+failure_analysis", "+payments_daily",
          "+balance_change_from_activity", "+fct_payouts")
WEBHOOK_MODELS = ("stg_ops__webhook_event_log", "webhook_health")
HELD_BACK_EVERY = 4
"""Every 4th event arrives only after the first build: refunds of old charges, states older than the
newest one already stored, and charges never seen before. So does every 4th balance transaction of the listing, and
the itemizations of every other payout."""
PENDING_EVERY = 3
"""Every 3rd balance transaction of the first listing is still pending; the second listing shows it available."""


FADING_OUTLIER = "cus_fading_outlier"
"""A customer whose only fraud signal stops firing after the late events: its rows must go."""


def succeeded_charge(charge_id: str, amount: int, day: int) -> tuple[str, bytes]:
    """A charge.succeeded event of a live USD charge of FADING_OUTLIER, created on June `day`, 2026."""
    from demo.stripe_objects import API_VERSION

    created = int(datetime(2026, 6, day, 10, tzinfo=UTC).timestamp())
    charge = {"id": charge_id, "object": "charge", "amount": amount, "amount_captured": amount, "amount_refunded": 0,
              "captured": True, "created": created, "currency": "usd", "customer": FADING_OUTLIER,
              "disputed": False, "livemode": True, "metadata": {}, "paid": True, "refunded": False,
              "outcome": {"type": "authorized", "risk_level": "normal"}, "status": "succeeded"}
    event = {"id": f"evt_{charge_id}", "object": "event", "api_version": API_VERSION, "created": created,
             "data": {"object": charge}, "livemode": True, "type": "charge.succeeded"}
    return event["id"], orjson.dumps(event)


# 5000 is more than 3x the median of the earlier 1000 (amount_outlier); the late 2500, created between them,
# raises that median to 1750, and the customer then fires no rule at all.
FADING_OUTLIER_EARLY = [succeeded_charge("ch_fading_1", 1000, 20), succeeded_charge("ch_fading_3", 5000, 24)]
FADING_OUTLIER_LATE = [succeeded_charge("ch_fading_2", 2500, 22)]


BOOKKEEPING_COLUMNS = {"reconciliation_exceptions": ("checked_at", "checked_against_event_at"),
                       "payments_daily": ("sources_updated_at",),
                       "fct_balance_transactions": ("sources_updated_at", "built_at"),
                       "balance_change_from_activity": ("built_at",)}
"""Columns that record when a build wrote the row, not what the row says: they differ after a full refresh."""


def snapshot(engine: sa.Engine, models: tuple[str, ...] = CHECKED_MODELS) -> dict[str, set[str]]:
    """Every row of every incremental model, as Postgres writes the row out (jsonb columns included), without its
    bookkeeping columns."""
    def row_text(model: str) -> str:
        dropped = "".join(f" - '{column}'" for column in BOOKKEEPING_COLUMNS.get(model, ()))
        return f"cast(to_jsonb(rows){dropped} as text)" if dropped else "cast(rows as text)"

    with engine.connect() as conn:
        return {model: set(conn.execute(sa.text(f"select {row_text(model)} from analytics.{model} as rows")).scalars())
                for model in models}


def as_if_received_when_created(engine: sa.Engine, newest_ago: str = "1 day") -> None:
    """Make every stored event look as if it had arrived when it was created, the newest `newest_ago` ago (and its
    object's state processed then, its log row written then, each platform row copied when it was last updated):
    the early arrivals then span the generated days, so the incremental build's lookback (15 minutes before the
    newest arrival) re-reads only the last few of them."""
    from ingest.processing import STATE_TABLES

    offset = f"(select now() - interval '{newest_ago}' - max(created_at) from raw.stripe_events)"
    with engine.begin() as conn:
        for table in STATE_TABLES:
            conn.execute(sa.text(f"update raw.{table.table} set updated_at = last_event_created_at + {offset}"))
        conn.execute(sa.text(f"update raw.stripe_events set received_at = created_at + {offset}"))
        conn.execute(sa.text(f"update raw.app_rows set loaded_at = updated_at + {offset}"))
        # A listing stored each balance transaction when it was created, and a payout's itemization when it ended.
        conn.execute(sa.text(f"update raw.stripe_api_balance_transactions set updated_at = created_at + {offset}"))
        conn.execute(sa.text("update raw.stripe_payout_balance_transactions as carried"
                             " set loaded_at = payouts.updated_at"
                             " from raw.stripe_payouts as payouts where payouts.id = carried.payout_id"))
        # Every timestamp of a log row moves with its arrival. The trigger would stamp updated_at with the clock,
        # making every row look just written and the next build re-read the whole log: history is rewritten here.
        conn.execute(sa.text("alter table ops.webhook_event_log disable trigger webhook_event_log_updated_at"))
        conn.execute(sa.text("""
            update ops.webhook_event_log as log
            set received_at = events.received_at,
                processing_started_at = log.processing_started_at + (events.received_at - log.received_at),
                processed_at = log.processed_at + (events.received_at - log.received_at),
                updated_at = log.updated_at + (events.received_at - log.received_at)
            from raw.stripe_events as events
            where events.event_id = log.event_id
        """))
        conn.execute(sa.text("alter table ops.webhook_event_log enable trigger webhook_event_log_updated_at"))


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory):
    with embedded_warehouse(tmp_path_factory.mktemp("incremental"), PAYOPS_TIMEZONE="America/Sao_Paulo") as settings:
        yield settings


def first_listing(landing: Path, folder: Path) -> Path:
    """The balance listing as Stripe's API showed it earlier, written into `folder`: without every
    HELD_BACK_EVERY-th transaction, every PENDING_EVERY-th of the others still pending, and the itemizations of every
    other payout only."""
    from ingest.stripe_balance import ITEMIZATION_FILE, TRANSACTIONS_FILE

    transactions = [orjson.loads(line) for line in (landing / TRANSACTIONS_FILE).read_bytes().splitlines() if line]
    listed = [txn | {"status": "pending"} if number % PENDING_EVERY == 0 else txn
              for number, txn in enumerate(transactions) if number % HELD_BACK_EVERY]
    itemized = [orjson.loads(line) for line in (landing / ITEMIZATION_FILE).read_bytes().splitlines() if line]
    payouts = sorted({item["payout"] for item in itemized})
    (folder / TRANSACTIONS_FILE).write_bytes(b"\n".join(orjson.dumps(txn) for txn in listed))
    (folder / ITEMIZATION_FILE).write_bytes(b"\n".join(orjson.dumps(item) for item in itemized
                                                       if payouts.index(item["payout"]) % 2))
    return folder


WRONG_CURRENCY = "chf"
"""No demo family pays in it: a purchase booked in it gives its student a row of its own."""


def add_student_without_payments(app: sa.Engine, like_purchase_id: int) -> tuple[str, int]:
    """A sibling of the purchase's student, with a pending copy of the purchase that never reached Stripe and a
    balance of 8 lesson hours: nothing on Stripe's side makes an incremental build look at this student again.
    Returns the student and the purchase."""
    with app.begin() as conn:
        student_id = conn.execute(sa.text(
            "insert into app.students (id, family_id, name, email, created_at, updated_at)"
            " select (select max(id) + 1 from app.students), family_id, 'Sibling', 'sibling@example.com',"
            "  created_at, updated_at"
            " from app.students where id = (select student_id from app.purchase_transactions where id = :id)"
            " returning id"), {"id": like_purchase_id}).scalar_one()
        purchase_id = conn.execute(sa.text(
            "insert into app.purchase_transactions (id, student_id, package_id, transaction_type, payment_status,"
            "  hours_purchased, amount, currency, stripe_customer_id, livemode, metadata, created_at, updated_at)"
            " select (select max(id) + 1 from app.purchase_transactions), :student, package_id, transaction_type,"
            "  'pending', hours_purchased, amount, currency, stripe_customer_id, livemode, metadata, created_at,"
            "  updated_at"
            " from app.purchase_transactions where id = :id returning id"),
            {"student": student_id, "id": like_purchase_id}).scalar_one()
        conn.execute(sa.text(
            "insert into app.student_account_balances (id, student_id, hours_purchased, hours_consumed,"
            "  balance_amount, currency, created_at, updated_at)"
            " select (select max(id) + 1 from app.student_account_balances), :student, 10, 2, 0, currency,"
            "  created_at, updated_at"
            " from app.purchase_transactions where id = :id"), {"student": student_id, "id": like_purchase_id})
    return str(student_id), purchase_id


def book_in_wrong_currency(app: sa.Engine, purchase_id: int) -> str:
    """The platform books the purchase in WRONG_CURRENCY (as if typed wrong); returns the right currency."""
    with app.begin() as conn:
        currency = conn.execute(sa.text("select currency from app.purchase_transactions where id = :id"),
                                {"id": purchase_id}).scalar_one()
        assert currency != WRONG_CURRENCY
        conn.execute(sa.text("update app.purchase_transactions set currency = :wrong where id = :id"),
                     {"wrong": WRONG_CURRENCY, "id": purchase_id})
    return currency


def correct_the_app(app: sa.Engine, purchase_id: int, currency: str, lessons_taken_by: str) -> None:
    """After the first build the platform fixes the purchase's currency and a student takes an hour of lessons, both
    stamped after anything copied so far (as `payops ingest app` expects of a change)."""
    later = "(select max(updated_at) + interval '1 hour' from app.{})"
    with app.begin() as conn:
        conn.execute(sa.text(f"update app.purchase_transactions set currency = :currency,"
                             f" updated_at = {later.format('purchase_transactions')} where id = :id"),
                     {"currency": currency, "id": purchase_id})
        conn.execute(sa.text(f"update app.student_account_balances set hours_consumed = hours_consumed + 1,"
                             f" updated_at = {later.format('student_account_balances')} where student_id = :student"),
                     {"student": int(lessons_taken_by)})


def dispute_lost_late(engine: sa.Engine) -> tuple[tuple[str, bytes], str]:
    """An open dispute closes as lost, in an event newer than any stored; returns the event and the disputed charge.
    A charge.dispute.closed changes no charge: only the dispute's own state can tell student_payment_summary."""
    with engine.connect() as conn:
        payload = conn.execute(sa.text(
            "select payload from raw.stripe_events where object_type = 'dispute' and object_id = ("
            "  select id from raw.stripe_disputes where object ->> 'status' in ('needs_response', 'under_review')"
            "  order by id limit 1)"
            " order by created_at desc, event_id desc limit 1")).scalar_one()
        newest = conn.execute(sa.text("select max(created_at) from raw.stripe_events")).scalar_one()
    lost = payload["data"]["object"] | {"status": "lost"}
    payload |= {"id": "evt_dispute_lost_late", "type": "charge.dispute.closed",
                "created": int(newest.timestamp()) + 3600,
                "data": {"object": lost, "previous_attributes": {"status": payload["data"]["object"]["status"]}}}
    return (payload["id"], orjson.dumps(payload)), lost["charge"]


def failed_charge_late(engine: sa.Engine) -> tuple[tuple[str, bytes], date]:
    """A charge that failed a minute after the first failure stored, in an event arriving only now; returns the event
    and the reporting day both fall on. The days after it hold failures that arrived long ago: only the late one
    changes their 7-day baseline."""
    with engine.connect() as conn:
        payload, day = conn.execute(sa.text(
            "select events.payload, charges.created_day from raw.stripe_events as events"
            " join analytics.fct_charges as charges on charges.charge_id = events.object_id"
            " where events.event_type = 'charge.failed' order by events.created_at, events.event_id limit 1")).one()
    failed = payload["data"]["object"] | {"id": "ch_failed_late", "created": payload["data"]["object"]["created"] + 60}
    payload |= {"id": "evt_charge_failed_late", "created": payload["created"] + 60, "data": {"object": failed}}
    return (payload["id"], orjson.dumps(payload)), day


def payments_daily_late_events(engine: sa.Engine) -> list[tuple[str, bytes]]:
    """Late events that each reach payments_daily by one path only: a refund of an old charge (a charge event two
    days after the charge), an old failed payment intent succeeding (its creation day), a charge three days before
    its series' first day (the series' new zero-filled days), and an event of a type payops does not process, a day
    after the newest (a new reporting day for every series)."""
    with engine.connect() as conn:
        newest = conn.execute(sa.text("select max(created_at) from raw.stripe_events")).scalar_one()

        def latest_payload(object_type: str, where: str) -> dict:
            return conn.execute(sa.text(
                f"select payload from raw.stripe_events where object_type = '{object_type}' and object_id = ("
                f"  select id from raw.stripe_{object_type}s where {where} order by id limit 1)"
                " order by created_at desc, event_id desc limit 1")).scalar_one()

        refunded = latest_payload("charge", "object ->> 'status' = 'succeeded' and (object ->> 'captured')::boolean"
                                  " and (object ->> 'amount_refunded')::bigint = 0 and (object -> 'disputed')::boolean"
                                  " is not true")
        succeeded = latest_payload("payment_intent", "object ->> 'status' = 'requires_payment_method'")
        first_charge = conn.execute(sa.text(
            "select payload from raw.stripe_events where event_type = 'charge.succeeded'"
            " order by created_at, event_id limit 1")).scalar_one()

    def late(payload: dict, event_id: str, event_type: str, created: int, changes: dict) -> tuple[str, bytes]:
        event = payload | {"id": event_id, "type": event_type, "created": created,
                           "data": {"object": payload["data"]["object"] | changes}}
        return event_id, orjson.dumps(event)

    charge = refunded["data"]["object"]
    intent = succeeded["data"]["object"]
    early = first_charge["data"]["object"]["created"] - 3 * 86400
    return [
        late(refunded, "evt_refunded_late", "charge.refunded", charge["created"] + 2 * 86400,
             {"amount_refunded": charge["amount"], "refunded": True}),
        late(succeeded, "evt_intent_succeeded_late", "payment_intent.succeeded", intent["created"] + 600,
             {"status": "succeeded"}),
        late(first_charge, "evt_early_charge_late", "charge.succeeded", early,
             {"id": "ch_early_late", "created": early}),
        late(first_charge, "evt_customer_updated_late", "customer.updated", int(newest.timestamp()) + 86400,
             {"id": "cus_late", "object": "customer", "created": int(newest.timestamp()) + 86400}),
    ]


AGED_COLUMNS = {"student_payment_summary": ("state_updated_at", "app_loaded_at"),
                "failure_analysis": ("state_updated_at",),
                "payments_daily": ("sources_updated_at",),
                "int_stripe__settlement_by_payment_day": ("state_updated_at",)}
"""Arrival times a model keeps, which aging rewrites for a full refresh only."""


def figures(engine: sa.Engine, model: str) -> set[str]:
    """The model's rows without the arrival times it keeps."""
    dropped = "".join(f" - '{column}'" for column in AGED_COLUMNS[model])
    with engine.connect() as conn:
        return set(conn.execute(sa.text(f"select cast(to_jsonb(rows){dropped} as text) from analytics.{model} as rows"))
                   .scalars())


def summary_row(engine: sa.Engine, student_id: str, currency: str, livemode: bool = True) -> dict | None:
    with engine.connect() as conn:
        row = conn.execute(sa.text("select * from analytics.student_payment_summary where student_id = :student"
                                   " and currency = :currency and livemode = :livemode"),
                           {"student": student_id, "currency": currency, "livemode": livemode}).mappings().one_or_none()
    return None if row is None else dict(row)


@dataclass
class LateArrivals:
    """The first round: a build on three quarters of the events (and the app with two mistakes in it), then the
    late quarter and the app's corrections, built incrementally, then a full refresh."""

    engine: sa.Engine
    before: dict[str, set[str]]
    incremental: dict[str, set[str]]
    full: dict[str, set[str]]
    mistyped_student: str
    corrected_currency: str
    mistyped_row_before: dict | None
    mistyped_rows_after: tuple[dict | None, dict | None]
    """the student's row in WRONG_CURRENCY, then in the corrected currency"""
    lessons_student: str
    hours_balance: tuple[int, int]
    """before and after the student took a lesson"""


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dbt_target")


@pytest.fixture(scope="module")
def late_arrivals(warehouse, target, tmp_path_factory: pytest.TempPathFactory) -> LateArrivals:
    from demo.generate import generate_demo_data
    from ingest.app_tables import copy_app_tables
    from ingest.processing import process_pending
    from ingest.stripe_balance import load_balance_landing
    from ingest.stripe_events import load_events
    from payops.db import app_engine, ready_engine

    engine = ready_engine(warehouse)
    app = app_engine(warehouse)
    demo = generate_demo_data(warehouse, days=12, students=30, seed=5, end=date(2026, 6, 30), progress=False,
                              out_dir=tmp_path_factory.mktemp("events"))
    events: dict[str, bytes] = {}
    for path in sorted(demo.out_dir.rglob("*.jsonl")):
        for line in path.read_bytes().splitlines():
            if line:
                events.setdefault(orjson.loads(line)["id"], line)
    ordered = sorted(events.items(), key=lambda item: orjson.loads(item[1])["created"])
    early = [item for number, item in enumerate(ordered) if number % HELD_BACK_EVERY]
    late = [item for number, item in enumerate(ordered) if not number % HELD_BACK_EVERY]
    early += FADING_OUTLIER_EARLY
    late += FADING_OUTLIER_LATE

    # Two students only the app knows: one for each kind of app change, so neither is found through another change.
    with app.connect() as conn:
        paid = conn.execute(sa.text("select min(id) from app.purchase_transactions where livemode")).scalar_one()
    mistyped_student, mistyped_purchase = add_student_without_payments(app, paid)
    currency = book_in_wrong_currency(app, mistyped_purchase)
    lessons_student, _ = add_student_without_payments(app, paid)
    copy_app_tables(app, engine)
    load_events(engine, early, source="replay")
    process_pending(engine)
    load_balance_landing(engine, first_listing(warehouse.stripe_balance_landing_dir, tmp_path_factory.mktemp("listed")))
    as_if_received_when_created(engine)
    # Models only: the seeds they read, no data or unit tests (tests/test_dbt_project.py runs those).
    dbt(warehouse, target, "build", *SELECT, "--resource-type", "model", "seed")
    before = snapshot(engine)
    mistyped_row_before = summary_row(engine, mistyped_student, WRONG_CURRENCY)
    hours_before = summary_row(engine, lessons_student, currency)["hours_balance"]

    correct_the_app(app, mistyped_purchase, currency, lessons_student)
    copy_app_tables(app, engine)
    load_events(engine, late, source="replay")
    process_pending(engine)
    load_balance_landing(engine, warehouse.stripe_balance_landing_dir)
    dbt(warehouse, target, "run", *SELECT)
    incremental = snapshot(engine)
    mistyped_rows_after = (summary_row(engine, mistyped_student, WRONG_CURRENCY),
                           summary_row(engine, mistyped_student, currency))
    hours_after = summary_row(engine, lessons_student, currency)["hours_balance"]

    dbt(warehouse, target, "run", *SELECT, "--full-refresh")
    return LateArrivals(engine, before, incremental, snapshot(engine), mistyped_student, currency,
                        mistyped_row_before, mistyped_rows_after, lessons_student, (hours_before, hours_after))


def test_late_and_out_of_order_events_change_every_model_they_reach(late_arrivals):
    for model in CHANGED_BY_LATE_EVENTS:
        assert late_arrivals.incremental[model] != late_arrivals.before[model], f"the late events should change {model}"


def test_after_late_events_every_incremental_model_equals_a_full_refresh(late_arrivals):
    for model in CHECKED_MODELS:
        assert late_arrivals.incremental[model] == late_arrivals.full[model], model


def test_a_purchase_whose_currency_the_app_corrects_moves_its_students_row(late_arrivals):
    """student_payment_summary keys on currency: the row in the mistyped currency must go, not stay beside the new."""
    assert late_arrivals.mistyped_row_before["purchases"] == 1
    in_wrong_currency, in_corrected_currency = late_arrivals.mistyped_rows_after
    assert in_wrong_currency is None, "the corrected currency's row should go"
    assert in_corrected_currency["purchases"] == 1


def test_a_lesson_taken_lowers_the_students_hours_balance(late_arrivals):
    """Only the app's balance row changes: nothing on Stripe's side points the build at this student."""
    assert late_arrivals.hours_balance == (8, 7), "the used hour should count"


def test_a_late_charge_that_silences_a_fraud_signal_removes_its_rows(late_arrivals):
    def fading_outlier_rows(rows: dict[str, set[str]]) -> set[str]:
        return {row for row in rows["fraud_signals"] if FADING_OUTLIER in row}

    assert len(fading_outlier_rows(late_arrivals.before)) == 2, (
        "amount_outlier should fire on ch_fading_3 and its customer"
    )
    for rows in (late_arrivals.incremental, late_arrivals.full):
        assert fading_outlier_rows(rows) == set(), f"{FADING_OUTLIER} should fire no rule after the late events"


@dataclass
class AgedArrivals:
    """The second round. Every student the first round's late events touched sits inside the lookback of the next
    build, which would hide a change only one kind of upstream row reveals. So the stored arrivals age past the
    lookback before a dispute closes as lost and a charge fails on the first day of failures; aged arrivals differ
    from those the incremental models stored, so only figures are compared."""

    incremental: dict[str, set[str]]
    full: dict[str, set[str]]
    dispute_loss: tuple[int, int]
    """the disputed student's dispute_loss_amount_minor before and after the close"""
    failures_before: set[str]
    failure_day: date


@pytest.fixture(scope="module")
def aged_arrivals(late_arrivals, warehouse, target) -> AgedArrivals:
    from ingest.processing import process_pending
    from ingest.stripe_events import load_events

    engine = late_arrivals.engine
    as_if_received_when_created(engine, newest_ago="5 days")
    event, charge_id = dispute_lost_late(engine)
    failure_event, failure_day = failed_charge_late(engine)
    failures_before = figures(engine, "failure_analysis")
    with engine.connect() as conn:
        student_id, currency, livemode = conn.execute(sa.text(
            "select student_id, currency, livemode from analytics.fct_charges where charge_id = :charge"),
            {"charge": charge_id}).one()
    loss_before = summary_row(engine, student_id, currency, livemode)["dispute_loss_amount_minor"]
    load_events(engine, [event, failure_event], source="replay")
    process_pending(engine)
    # Without a lookback, only these two events are new to the build (the first round's arrivals are seconds older).
    dbt(warehouse, target, "run", *SELECT, "--vars", "{incremental_lookback_minutes: 0}")
    incremental = {model: figures(engine, model) for model in AGED_COLUMNS}
    loss_after = summary_row(engine, student_id, currency, livemode)["dispute_loss_amount_minor"]
    dbt(warehouse, target, "run", *SELECT, "--full-refresh")
    full = {model: figures(engine, model) for model in AGED_COLUMNS}
    return AgedArrivals(incremental, full, (loss_before, loss_after), failures_before, failure_day)


def test_a_dispute_closed_as_lost_reaches_the_students_summary_through_its_state_alone(aged_arrivals):
    """A charge.dispute.closed changes no charge: only the dispute's own state can tell student_payment_summary."""
    loss_before, loss_after = aged_arrivals.dispute_loss
    assert loss_after > loss_before
    assert aged_arrivals.incremental["student_payment_summary"] == aged_arrivals.full["student_payment_summary"]


def test_a_late_failure_moves_the_baselines_of_the_days_after_it(aged_arrivals):
    """The days after the late failure hold failures that arrived long ago: only the late one changes their 7-day
    baseline."""
    incremental = aged_arrivals.incremental["failure_analysis"]
    assert incremental == aged_arrivals.full["failure_analysis"]
    changed_days = {orjson.loads(row)["day"] for row in incremental ^ aged_arrivals.failures_before}
    assert len(changed_days) > 1 and min(changed_days) == aged_arrivals.failure_day.isoformat(), (
        "the baselines after it should change"
    )


def test_after_aged_late_events_every_figure_equals_a_full_refresh(aged_arrivals):
    assert aged_arrivals.incremental == aged_arrivals.full


@pytest.fixture(scope="module")
def payments_daily_rounds(aged_arrivals, late_arrivals, warehouse, target) -> tuple[set[str], set[str], set[str]]:
    """The third round: payments_daily before, after an incremental build and after a full refresh, around late
    events of which each reaches it by one path only (payments_daily_late_events)."""
    from ingest.processing import process_pending
    from ingest.stripe_events import load_events

    engine = late_arrivals.engine
    daily_before = figures(engine, "payments_daily")
    load_events(engine, payments_daily_late_events(engine), source="replay")
    process_pending(engine)
    dbt(warehouse, target, "run", *SELECT, "--vars", "{incremental_lookback_minutes: 0}")
    incremental = figures(engine, "payments_daily")
    dbt(warehouse, target, "run", *SELECT, "--full-refresh")
    return daily_before, incremental, figures(engine, "payments_daily")


def test_payments_daily_recomputes_the_days_each_kind_of_late_event_reaches(payments_daily_rounds):
    """One late event per kind, none of whose days another one's reaches: each must change payments_daily, and the
    incremental build must equal a full refresh."""
    before, incremental, full = payments_daily_rounds
    assert incremental == full
    assert len(incremental - before) > 4, "each late event should change payments_daily"


UPGRADED_WATERMARKS = {"fraud_signals": "source_updated_at", "webhook_health": "log_updated_at",
                       "student_payment_summary": "app_loaded_at", "stg_app__purchase_transactions": "loaded_at"}


def test_a_table_built_before_its_model_kept_a_watermark_is_read_whole_once(payments_daily_rounds, warehouse,
                                                                            target):
    """An existing warehouse upgraded to a model that keeps a new watermark column: its table lacks the column, and
    the next ordinary build must re-read it whole (and add the column) rather than fail. Runs on the warehouse the
    rounds above left fully refreshed."""
    from payops.db import ready_engine

    engine = ready_engine(warehouse)

    def rows_by_content() -> dict[str, set[str]]:  # jsonb sorts keys: the re-added column's position is irrelevant
        with engine.connect() as conn:
            return {model: set(conn.execute(sa.text(
                f"select cast(to_jsonb(rows) as text) from analytics.{model} as rows")).scalars())
                for model in UPGRADED_WATERMARKS}

    full = rows_by_content()
    with engine.begin() as conn:
        for model, column in UPGRADED_WATERMARKS.items():
            conn.execute(sa.text(f"alter table analytics.{model} drop column {column}"))
    dbt(warehouse, target, "run", "--select", *UPGRADED_WATERMARKS)
    assert rows_by_content() == full


def processed_per_hour(engine: sa.Engine) -> dict:
    with engine.connect() as conn:
        return dict(conn.execute(sa.text("select hour, processed from analytics.webhook_health")).all())


def test_processing_an_old_event_alone_reaches_the_incremental_webhook_models(tmp_path):
    """No new event, only status changes: the oldest events, stored but not yet processed at the first build,
    are processed. They arrived (as_if_received_when_created) twelve days before the newest event, outside the
    lookback, so only the log's updated_at can bring their rows and hours into the incremental build."""
    from demo.generate import generate_demo_data
    from ingest.processing import process_pending
    from ingest.stripe_events import load_events
    from payops.db import ready_engine

    with embedded_warehouse(tmp_path / "warehouse") as settings:
        engine = ready_engine(settings)
        demo = generate_demo_data(settings, days=12, students=10, seed=11, end=date(2026, 6, 30), progress=False,
                                  out_dir=tmp_path / "events", write_app=False)
        events = {}
        for path in sorted(demo.out_dir.rglob("*.jsonl")):
            for line in path.read_bytes().splitlines():
                if line:
                    events.setdefault(orjson.loads(line)["id"], line)
        ordered = sorted(events.items(), key=lambda item: orjson.loads(item[1])["created"])
        oldest, rest = ordered[:5], ordered[5:]

        load_events(engine, rest, source="replay")
        process_pending(engine)
        load_events(engine, oldest, source="replay")  # stored, still `received`
        as_if_received_when_created(engine)
        target = tmp_path / "target"
        dbt(settings, target, "run", "--select", "+webhook_health")
        before = snapshot(engine, WEBHOOK_MODELS)
        processed_before = processed_per_hour(engine)

        assert process_pending(engine).processed == len(oldest)
        dbt(settings, target, "run", "--select", "+webhook_health")
        incremental = snapshot(engine, WEBHOOK_MODELS)
        processed_after = processed_per_hour(engine)

        dbt(settings, target, "run", "--select", "+webhook_health", "--full-refresh")
        full = snapshot(engine, WEBHOOK_MODELS)

    assert sum(processed_after.values()) == sum(processed_before.values()) + len(oldest)
    moved = [hour for hour in processed_after if processed_after[hour] != processed_before.get(hour)]
    assert moved and all(hour in processed_before for hour in moved), "only the old events' hours should move"
    for model in WEBHOOK_MODELS:
        assert incremental[model] != before[model], f"processing should change {model}"
        assert incremental[model] == full[model], model


def latest_payload(engine: sa.Engine, object_type: str, object_id: str) -> dict:
    """The payload of the newest stored event about the object."""
    with engine.connect() as conn:
        return conn.execute(sa.text(
            "select payload from raw.stripe_events where object_type = :type and object_id = :id"
            " order by created_at desc, event_id desc limit 1"), {"type": object_type, "id": object_id}).scalar_one()


def late_event(like: dict, event_id: str, event_type: str, created: int, obj: dict,
               previous_attributes: dict | None = None) -> tuple[str, bytes]:
    """An event shaped like `like`, about `obj`, created at `created`, as (id, body) for load_events."""
    data = {"object": obj} | ({"previous_attributes": previous_attributes} if previous_attributes else {})
    return event_id, orjson.dumps(like | {"id": event_id, "type": event_type, "created": created, "data": data})


def refunded_late(engine: sa.Engine, charge_id: str, created: int) -> tuple[str, bytes]:
    """A charge.refunded event refunding the (captured, unrefunded) charge in full, created at `created`."""
    payload = latest_payload(engine, "charge", charge_id)
    charge = payload["data"]["object"] | {"amount_refunded": payload["data"]["object"]["amount_captured"],
                                          "refunded": True}
    return late_event(payload, f"evt_refunded_late_{charge_id}", "charge.refunded", created, charge,
                      {"amount_refunded": 0})


def canceled_late(engine: sa.Engine, payment_intent_id: str, created: int) -> tuple[str, bytes]:
    """A payment_intent.canceled event of the payment intent, created at `created`: no charge changes."""
    payload = latest_payload(engine, "payment_intent", payment_intent_id)
    intent = payload["data"]["object"] | {"status": "canceled", "canceled_at": created,
                                          "cancellation_reason": "abandoned"}
    return late_event(payload, f"evt_canceled_late_{payment_intent_id}", "payment_intent.canceled", created, intent,
                      {"status": payload["data"]["object"]["status"]})


def dispute_opened_late(engine: sa.Engine, charge_id: str, created: int) -> tuple[str, bytes]:
    """A charge.dispute.created event disputing the charge, created at `created`: Stripe sends no charge event."""
    with engine.connect() as conn:
        payload = conn.execute(sa.text(
            "select payload from raw.stripe_events where event_type = 'charge.dispute.created'"
            " order by event_id limit 1")).scalar_one()
    intent = latest_payload(engine, "charge", charge_id)["data"]["object"].get("payment_intent")
    dispute = payload["data"]["object"] | {"id": f"dp_late_{charge_id}", "charge": charge_id, "payment_intent": intent,
                                           "status": "needs_response", "created": created}
    return late_event(payload, f"evt_dispute_opened_late_{charge_id}", "charge.dispute.created", created, dispute)


@dataclass
class ReconciliationChanges:
    """Each change reaches reconciliation_exceptions by one path of its pre-hook only, nothing else about those
    purchases changing. `kinds` holds each purchase's exception kinds before and after the incremental build."""

    kinds: dict[str, tuple[set[str], set[str]]]
    before: dict[str, set[str]]
    incremental: dict[str, set[str]]
    full: dict[str, set[str]]


@pytest.fixture(scope="module")
def reconciliation_changes(tmp_path_factory: pytest.TempPathFactory) -> ReconciliationChanges:
    from demo.generate import generate_demo_data
    from ingest.app_tables import copy_app_tables
    from ingest.processing import process_pending
    from ingest.stripe_events import load_events
    from payops.db import app_engine, ready_engine

    tmp_path = tmp_path_factory.mktemp("reconciliation")

    def exceptions() -> dict[str, set[str]]:
        return snapshot(engine, ("reconciliation_exceptions", "fct_charges"))

    def kinds_of(purchase_id: int | str) -> set[str]:
        with engine.connect() as conn:
            return set(conn.execute(sa.text(
                "select kind from analytics.reconciliation_exceptions where purchase_transaction_id = :id"),
                {"id": str(purchase_id)}).scalars())

    with embedded_warehouse(tmp_path / "warehouse") as settings:
        engine, app = ready_engine(settings), app_engine(settings)
        demo = generate_demo_data(settings, days=12, students=30, seed=5, end=date(2026, 6, 30), progress=False,
                                  out_dir=tmp_path / "events")
        lines = [line for path in sorted(demo.out_dir.rglob("*.jsonl")) for line in path.read_bytes().splitlines()
                 if line]
        load_events(engine, ((f"demo:{n}", line) for n, line in enumerate(lines)), source="replay")
        process_pending(engine)
        with engine.connect() as conn:
            newest = conn.execute(sa.text("select max(created_at) from raw.stripe_events")).scalar_one()
            # Completed purchases with their succeeded, captured, unrefunded charge, newest first.
            paid = conn.execute(sa.text(
                "select cast(object -> 'metadata' ->> 'purchase_transaction_id' as bigint), id"
                " from raw.stripe_charges"
                " where object ->> 'status' = 'succeeded' and cast(object ->> 'captured' as boolean)"
                "  and cast(object ->> 'amount_refunded' as bigint) = 0 and livemode"
                "  and object -> 'metadata' ->> 'purchase_transaction_id' is not null"
                " order by cast(object ->> 'created' as bigint) desc")).all()
            abandoned, abandoned_intent = conn.execute(sa.text(
                "select cast(object -> 'metadata' ->> 'purchase_transaction_id' as bigint), id"
                " from raw.stripe_payment_intents"
                " where object ->> 'status' = 'requires_payment_method' and object ->> 'latest_charge' is not null"
                "  and object -> 'metadata' ->> 'purchase_transaction_id' is not null and livemode"
                " order by id limit 1")).one()
        ((in_grace, _), (by_intent, by_intent_charge), (by_metadata, by_metadata_charge), (unknown, _),
         (_, disputed_charge)) = paid[:5]
        purchases = {"unknown": unknown, "in_grace": in_grace, "by_intent": by_intent, "by_metadata": by_metadata,
                     "abandoned": abandoned}
        with app.begin() as conn:
            # The app has not recorded this purchase yet (its receipts go too, for the foreign key).
            unknown_row = conn.execute(sa.text("select * from app.purchase_transactions where id = :id"),
                                       {"id": unknown}).mappings().one()
            conn.execute(sa.text("delete from app.receipts where transaction_id = :id"), {"id": unknown})
            conn.execute(sa.text("delete from app.purchase_transactions where id = :id"), {"id": unknown})
            conn.execute(sa.text("update app.purchase_transactions set payment_status = 'pending' where id = :id"),
                         {"id": in_grace})
            conn.execute(sa.text("update app.purchase_transactions set stripe_charge_id = null where id = :id"),
                         {"id": by_intent})
            conn.execute(sa.text("update app.purchase_transactions"
                                 " set stripe_charge_id = null, stripe_payment_intent_id = null where id = :id"),
                         {"id": by_metadata})
        copy_app_tables(app, engine)
        as_if_received_when_created(engine)
        target = tmp_path / "target"
        dbt(settings, target, "build", "--select", "+reconciliation_exceptions", "--resource-type", "model", "seed")
        before = exceptions()
        kinds_before = {name: kinds_of(purchase) for name, purchase in purchases.items()}

        with app.begin() as conn:  # the purchase arrives, stamped after anything copied so far
            stamp = conn.execute(sa.text("select max(updated_at) + interval '1 hour' from app.purchase_transactions"))
            row = dict(unknown_row) | {"updated_at": stamp.scalar_one(), "metadata": orjson.dumps(
                unknown_row["metadata"]).decode()}
            values = ", ".join(f"cast(:{column} as jsonb)" if column == "metadata" else f":{column}" for column in row)
            conn.execute(sa.text(f"insert into app.purchase_transactions ({', '.join(row)})"
                                 f" values ({values})"),
                         row)
        copy_app_tables(app, engine)
        later = int(newest.timestamp())
        load_events(engine, [refunded_late(engine, by_intent_charge, later + 3600),
                             refunded_late(engine, by_metadata_charge, later + 2 * 86_400),
                             canceled_late(engine, abandoned_intent, later + 60),
                             dispute_opened_late(engine, disputed_charge, later + 120)], source="replay")
        process_pending(engine)
        dbt(settings, target, "run", "--select", "+reconciliation_exceptions")
        incremental = exceptions()
        kinds = {name: (kinds_before[name], kinds_of(purchase)) for name, purchase in purchases.items()}
        dbt(settings, target, "run", "--select", "+reconciliation_exceptions", "--full-refresh")
        full = exceptions()
    return ReconciliationChanges(kinds, before, incremental, full)


def test_a_purchase_the_app_records_late_is_no_longer_missing_in_the_app(reconciliation_changes):
    before, after = reconciliation_changes.kinds["unknown"]
    assert "missing_in_app" in before
    assert "missing_in_app" not in after


@pytest.mark.parametrize("purchase", [
    pytest.param("in_grace", id="a pending purchase leaves the grace because newer events arrived"),
    pytest.param("abandoned", id="a failed purchase's payment intent is canceled, its charge unchanged"),
    pytest.param("by_intent", id="a late refund of a charge the purchase names only through its payment intent"),
    pytest.param("by_metadata", id="a late refund of a charge the purchase names only through its metadata"),
])
def test_a_change_reaching_a_purchase_by_one_path_only_is_compared_again(reconciliation_changes, purchase):
    before, after = reconciliation_changes.kinds[purchase]
    assert before == set()
    assert "status_mismatch" in after


def test_after_those_changes_the_incremental_reconciliation_equals_a_full_refresh(reconciliation_changes):
    changes = reconciliation_changes
    assert changes.incremental["reconciliation_exceptions"] != changes.before["reconciliation_exceptions"]
    assert changes.incremental["reconciliation_exceptions"] == changes.full["reconciliation_exceptions"]


def test_a_dispute_opened_late_on_an_old_charge_reaches_fct_charges_through_its_state_alone(reconciliation_changes):
    """Stripe sends no charge event when a charge is disputed: only the dispute's state tells fct_charges."""
    changes = reconciliation_changes
    assert changes.incremental["fct_charges"] != changes.before["fct_charges"]
    assert changes.incremental["fct_charges"] == changes.full["fct_charges"]
