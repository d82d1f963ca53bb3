"""End to end: every metrics mart in schema `analytics`, row for row, against tests/oracle_marts.py's figures
computed straight from the generated event files (and the app's own rows where a mart compares with them).

A missing mart or column FAILS (never skips). Minor amounts are compared exactly as integers, major amounts as
exact decimals (minor / 10^exponent), rates exactly up to the mart's own rounding (a numeric of scale s must be
the exact value rounded half up to s decimals, s >= 4) or within 1e-9 for floats. Each test reports every
mismatch as (mart, key, column, expected, actual) rather than stopping at the first."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import TIMEZONE
from oracle import expected_payments_daily
from oracle_marts import (
    FAILURE_DIMENSIONS,
    REFUND_COLUMNS,
    FraudRule,
    expected_dispute_metrics,
    expected_failure_analysis,
    expected_fct_charges,
    expected_fct_disputes,
    expected_fct_payment_intents,
    expected_fct_refunds,
    expected_fraud_signals,
    expected_payments_daily_extensions,
    expected_reconciliation_exceptions,
    expected_refund_names,
    expected_revenue_trends,
    expected_student_payment_summary,
    expected_threshold_status,
    expected_webhook_health,
    major,
    planted_exceptions,
    read_events,
    reporting_days,
)

MAX_REPORTED = 40
RATE_MIN_SCALE = 4


# -- reading the warehouse ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def events(pipeline) -> list[dict]:
    return read_events([pipeline.demo.out_dir])


def select(pipeline, relation: str) -> list[dict]:
    """Every row of `relation`; a missing relation fails the test (a mart that is not built is a failure)."""
    schema, name = relation.split(".")
    with pipeline.engine.connect() as conn:
        exists = conn.execute(sa.text(
            "select 1 from information_schema.tables where table_schema = :s and table_name = :n"),
            {"s": schema, "n": name}).first()
        if exists is None:
            pytest.fail(f"{relation} does not exist in the warehouse")
        return [dict(r._mapping) for r in conn.execute(sa.text(f'select * from "{schema}"."{name}"'))]


def need_columns(relation: str, rows: list[dict], columns: Iterable[str]) -> None:
    assert rows, f"{relation} is empty"
    missing = [c for c in columns if c not in rows[0]]
    assert not missing, f"{relation} lacks the contract's columns {missing}; it has {sorted(rows[0])}"


# -- comparing values -----------------------------------------------------------------------------------------

def same(expected: Any, actual: Any) -> bool:
    if expected is None or actual is None:
        return expected is None and actual is None
    if isinstance(expected, Fraction):  # a rate or mean: exact up to the mart's rounding
        if isinstance(actual, float):
            return abs(actual - float(expected)) <= 1e-9
        if isinstance(actual, Decimal):
            scale = -actual.as_tuple().exponent
            if isinstance(actual.as_tuple().exponent, int) and 0 < scale < 16:
                exact = Decimal(expected.numerator) / Decimal(expected.denominator)
                rounded = exact.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP)
                return scale >= RATE_MIN_SCALE and rounded == actual
            return abs(Fraction(actual) - expected) <= Fraction(1, 10**9)
        if isinstance(actual, int) and not isinstance(actual, bool):  # a mean kept in whole minor units
            return actual == round_half_up(expected)
        return Fraction(actual) == expected
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual or expected == actual
    if isinstance(expected, str) and isinstance(actual, int):  # metadata ids are strings in Stripe
        return expected == str(actual)
    if isinstance(expected, datetime):
        return isinstance(actual, datetime) and actual.tzinfo is not None and actual == expected
    if isinstance(expected, date):
        return type(actual) is date and actual == expected
    if isinstance(expected, (int, Decimal)):
        return isinstance(actual, (int, Decimal)) and Decimal(actual) == Decimal(expected)
    return expected == actual


def round_half_up(value: Fraction) -> int:
    """Postgres' round(numeric) and numeric→bigint casts: halves away from zero."""
    sign = -1 if value < 0 else 1
    return sign * int(abs(value) + Fraction(1, 2))


def compare(relation: str, actual_rows: list[dict], key: Callable[[dict], Any], expected: Mapping[Any, Mapping],
            columns: Mapping[str, str] | Iterable[str], *, extra_ok: Callable[[Any, dict], bool] | None = None,
            missing_ok: Callable[[Any, Mapping], bool] | None = None) -> list[str]:
    """Mismatches between the mart's rows (keyed by `key`) and the expected rows, for `columns` (expected field
    -> mart column). Keys only in the mart are mismatches unless extra_ok(key, row); keys only expected unless
    missing_ok(key, expected_row)."""
    columns = dict(columns) if isinstance(columns, Mapping) else {c: c for c in columns}
    problems = []
    actual: dict[Any, dict] = {}
    for row in actual_rows:
        k = key(row)
        if k in actual:
            problems.append(f"{relation} {k}: duplicate key")
        actual[k] = row
    for k in sorted(set(expected) | set(actual), key=repr):
        if k not in actual:
            if not (missing_ok and missing_ok(k, expected[k])):
                problems.append(f"{relation} {k}: missing in the mart (expected {dict(expected[k])})")
            continue
        if k not in expected:
            if not (extra_ok and extra_ok(k, actual[k])):
                problems.append(f"{relation} {k}: unexpected row {actual[k]}")
            continue
        for field, column in columns.items():
            want, got = expected[k][field], actual[k][column]
            if not same(want, got):
                problems.append(f"{relation} {k} {column}: expected {want!r}, actual {got!r}")
    return problems


def assert_none(problems: list[str]) -> None:
    shown = "\n".join(problems[:MAX_REPORTED])
    more = f"\n... and {len(problems) - MAX_REPORTED} more" if len(problems) > MAX_REPORTED else ""
    assert not problems, f"{len(problems)} mismatch(es):\n{shown}{more}"


def check_major(relation: str, rows: list[dict], pairs: Mapping[str, str], currency_of: Callable[[dict], str]
                ) -> list[str]:
    """Every major `_amount` column = its `_minor` column / 10^exponent of the row's currency."""
    problems = []
    for row in rows:
        for major_column, minor_column in pairs.items():
            want = major(row[minor_column], currency_of(row))
            if not same(want, row[major_column]):
                problems.append(f"{relation} {row.get(minor_column)!r} {major_column}: expected {want!r}, "
                                f"actual {row[major_column]!r}")
    return problems


# -- fct_charges ----------------------------------------------------------------------------------------------

CHARGE_COLUMNS = ("charge_id", "payment_intent_id", "customer_id", "student_id", "purchase_transaction_id",
                  "created_at", "created_day", "currency", "amount", "amount_minor", "amount_captured_minor", "status",
                  "captured", "failure_code", "decline_code", "outcome_type", "risk_level", "risk_score", "card_brand",
                  "card_country", "card_fingerprint", "amount_refunded", "amount_refunded_minor", "disputed",
                  "livemode")


@pytest.fixture(scope="module")
def fct_charges(pipeline) -> list[dict]:
    return select(pipeline, "analytics.fct_charges")


def test_fct_charges_every_column_is_the_charges_latest_state(fct_charges, events):
    need_columns("fct_charges", fct_charges, CHARGE_COLUMNS)
    expected = expected_fct_charges(events, TIMEZONE)
    assert_none(compare("fct_charges", fct_charges, lambda r: r["charge_id"], expected, CHARGE_COLUMNS))


def test_fct_charges_has_every_charge_of_the_events_exactly_once(fct_charges, events):
    ids = Counter(r["charge_id"] for r in fct_charges)
    in_events = {e["data"]["object"]["id"] for e in events if e["data"]["object"].get("object") == "charge"}
    assert {cid for cid, n in ids.items() if n > 1} == set()
    assert set(ids) == in_events


# -- fct_payment_intents --------------------------------------------------------------------------------------

INTENT_COLUMNS = ("payment_intent_id", "charge_attempts", "failed_attempts", "recovered", "final_status",
                  "seconds_to_success", "customer_id", "created_at", "currency", "amount_minor", "amount", "livemode",
                  "student_id", "purchase_transaction_id", "first_attempt_at", "succeeded_at")


@pytest.fixture(scope="module")
def fct_payment_intents(pipeline) -> list[dict]:
    rows = select(pipeline, "analytics.fct_payment_intents")
    need_columns("fct_payment_intents", rows, INTENT_COLUMNS)
    return rows


def test_fct_payment_intents(fct_payment_intents, events):
    expected = expected_fct_payment_intents(events, TIMEZONE)
    assert_none(compare("fct_payment_intents", fct_payment_intents, lambda r: r["payment_intent_id"], expected,
                        INTENT_COLUMNS))


def test_fct_payment_intents_include_a_recovered_payment(pipeline, events):
    expected = expected_fct_payment_intents(events, TIMEZONE)
    assert any(r["recovered"] for r in expected.values()), "the demo data should contain a recovered payment"


# -- fct_refunds ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fct_refunds(pipeline) -> list[dict]:
    return select(pipeline, "analytics.fct_refunds")


def test_fct_refunds_are_the_increments_of_the_cumulative_amount_refunded(fct_refunds, events):
    need_columns("fct_refunds", fct_refunds, REFUND_COLUMNS)
    expected = expected_fct_refunds(events, TIMEZONE)
    actual = Counter(tuple(r[c] for c in REFUND_COLUMNS) for r in fct_refunds)
    problems = [f"fct_refunds {k}: expected {n} row(s), actual {actual[k]}" for k, n in expected.items()
                if actual[k] != n]
    problems += [f"fct_refunds {k}: unexpected row(s) x{n}" for k, n in actual.items() if k not in expected]
    assert_none(problems)
    assert any(k[4] < 0 for k in expected), "the demo data should contain a refund that failed after succeeding"


def test_fct_refunds_name_each_increment_by_its_refund(fct_refunds, events):
    """decisions.md §12: the n-th increment of an amount is the n-th refund of that amount (a negative one the
    n-th failed refund); refund_id, status and reason are that refund's."""
    columns = ("refund_id", "status", "reason")
    need_columns("fct_refunds", fct_refunds, columns)
    expected = Counter()
    for (cid, at, amount, rid, status, reason), n in expected_refund_names(events, TIMEZONE).items():
        values = {"refund_id": rid, "status": status, "reason": reason}
        expected[(cid, at, amount, *(values[c] for c in columns))] += n
    actual = Counter((r["charge_id"], r["refunded_at"], r["amount_minor"], *(r[c] for c in columns))
                     for r in fct_refunds)
    assert_none([f"fct_refunds {k}: expected x{n}, actual x{actual[k]}" for k, n in expected.items() if actual[k] != n]
                + [f"fct_refunds {k}: unexpected x{n}" for k, n in actual.items() if k not in expected])


# -- fct_disputes ---------------------------------------------------------------------------------------------

DISPUTE_COLUMNS = ("dispute_id", "status", "amount_minor", "closed_at", "outcome", "withdrawn_minor",
                   "reinstated_minor", "fee_minor", "is_inquiry", "charge_id", "payment_intent_id", "currency",
                   "livemode", "created_at", "reason", "amount", "network", "customer_id", "evidence_due_by",
                   "balance_currency")


def test_fct_disputes(pipeline, events):
    rows = select(pipeline, "analytics.fct_disputes")
    need_columns("fct_disputes", rows, DISPUTE_COLUMNS)
    expected = expected_fct_disputes(events, TIMEZONE)
    assert_none(compare("fct_disputes", rows, lambda r: r["dispute_id"], expected, DISPUTE_COLUMNS))


# -- payments_daily, extended ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def payments_daily(pipeline) -> list[dict]:
    return select(pipeline, "analytics.payments_daily")


def daily_key(row: dict) -> tuple:
    return (row["day"], row["currency"], row["livemode"])


def test_payments_daily_intent_success_rate(payments_daily, events):
    need_columns("payments_daily", payments_daily, ("intent_success_rate",))
    expected = expected_payments_daily_extensions(events, TIMEZONE)
    with_intents = {k: v for k, v in expected.items() if "intent_success_rate" in v}
    assert_none(compare("payments_daily", payments_daily, daily_key, with_intents, ["intent_success_rate"],
                        extra_ok=lambda k, row: row["intent_success_rate"] is None))


def _transaction_value_test(payments_daily: list[dict], events: list[dict], column: str) -> None:
    need_columns("payments_daily", payments_daily, (column,))
    expected = expected_payments_daily_extensions(events, TIMEZONE)
    with_values = {k: v for k, v in expected.items() if column in v}
    assert_none(compare("payments_daily", payments_daily, daily_key, with_values, [column],
                        extra_ok=lambda k, row: row[column] is None))


def test_payments_daily_avg_transaction_value(payments_daily, events):
    """Mean amount_captured of the day's succeeded captured charges; a bigint column is compared rounded half up."""
    _transaction_value_test(payments_daily, events, "avg_transaction_value_minor")


def test_payments_daily_median_transaction_value(payments_daily, events):
    """The median (percentile_cont(0.5): the mean of the two middle values for an even count)."""
    _transaction_value_test(payments_daily, events, "median_transaction_value_minor")


def test_payments_daily_open_dispute_exposure(payments_daily, events):
    column = "open_dispute_exposure_minor"
    need_columns("payments_daily", payments_daily, (column,))
    expected = expected_payments_daily_extensions(events, TIMEZONE)
    exposed = {k: v for k, v in expected.items() if column in v}
    assert exposed, "the demo data should have open disputes"
    assert_none(compare("payments_daily", payments_daily, daily_key, exposed, [column],
                        extra_ok=lambda k, row: row[column] in (0, None)))


# -- revenue_trends -------------------------------------------------------------------------------------------

def test_revenue_trends(pipeline, events):
    rows = select(pipeline, "analytics.revenue_trends")
    figures = ("charges_succeeded", "gross_amount_minor", "refunded_amount_minor", "dispute_loss_amount_minor",
               "net_amount_minor", "net_growth_rate", "gross_growth_rate")
    need_columns("revenue_trends", rows, ("period_type", "period_start", "currency", "livemode", *figures))
    expected = expected_revenue_trends(events, TIMEZONE)
    assert_none(compare("revenue_trends", rows,
                        lambda r: (r["period_type"], r["period_start"], r["currency"], r["livemode"]), expected,
                        figures))


# -- failure_analysis -----------------------------------------------------------------------------------------

def test_failure_analysis(pipeline, events):
    rows = select(pipeline, "analytics.failure_analysis")
    need_columns("failure_analysis", rows, ("day", "currency", "livemode", "dimension", "dimension_value",
                                            "failed_attempts", "failures_total", "share"))
    assert {r["dimension"] for r in rows} <= set(FAILURE_DIMENSIONS)
    # A dimension without a value is labelled '(none)' by the mart; our None is that label.
    expected = {(*k[:4], "(none)" if k[4] is None else k[4]): v
                for k, v in expected_failure_analysis(events, TIMEZONE).items()}
    assert_none(compare("failure_analysis", rows,
                        lambda r: (r["day"], r["currency"], r["livemode"], r["dimension"], r["dimension_value"]),
                        expected, ("failed_attempts", "failures_total", "share")))


# -- dispute_metrics ------------------------------------------------------------------------------------------

def test_dispute_metrics(pipeline, events):
    rows = select(pipeline, "analytics.dispute_metrics")
    columns = ("disputes", "visa_ratio", "mastercard_ratio", "open_disputes", "card_sales_same_month",
               "card_transactions_prior_month")
    need_columns("dispute_metrics", rows, ("month", "network", "livemode", *columns))
    expected = expected_dispute_metrics(events, TIMEZONE)

    def nothing_to_say(key: tuple, want: Mapping) -> bool:  # only prior-month sales: the mart may omit the row
        return not (want["disputes"] or want["inquiries"] or want["open_disputes"] or want["card_sales_same_month"])

    assert_none(compare("dispute_metrics", rows, lambda r: (r["month"], r["network"], r["livemode"]), expected,
                        columns, missing_ok=nothing_to_say))


def test_dispute_metrics_threshold_status_follows_the_network_thresholds_seed(pipeline):
    """Checked from the mart's own counts and ratios (compared above), with the seed and the default region 'eu'."""
    rows = select(pipeline, "analytics.dispute_metrics")
    need_columns("dispute_metrics", rows, ("threshold_status",))
    thresholds = select(pipeline, "analytics.network_thresholds")
    problems = []
    for r in rows:
        ratio = {"visa": r["visa_ratio"], "mastercard": r["mastercard_ratio"]}.get(r["network"])
        want = expected_threshold_status(r["network"], r["month"], r["disputes"],
                                         None if ratio is None else Fraction(ratio), thresholds)
        if r["threshold_status"] != want:
            problems.append(f"dispute_metrics {(r['month'], r['network'], r['livemode'])} threshold_status: "
                            f"expected {want!r}, actual {r['threshold_status']!r}")
    assert_none(problems)


# -- webhook_health -------------------------------------------------------------------------------------------

def test_webhook_health(pipeline):
    rows = select(pipeline, "analytics.webhook_health")
    need_columns("webhook_health", rows, ("hour", "received", "processed", "failed", "retrying"))
    log = select(pipeline, "ops.webhook_event_log")
    expected = expected_webhook_health(log)
    problems = compare("webhook_health", rows, lambda r: r["hour"], expected,
                       ("received", "processed", "failed", "retrying"))
    stale = [r for r in rows if r["hour"] in expected and r["received"] == expected[r["hour"]]["received"]
             and r["processed"] < expected[r["hour"]]["processed"]]
    if problems and stale:
        problems.insert(0, "webhook_health counts the right events but fewer processed than the log now holds: it was "
                           "built before this refresh processed them (it does not depend on the processing step)")
    assert_none(problems)


# -- student_payment_summary ----------------------------------------------------------------------------------

def test_student_payment_summary(pipeline, events):
    rows = select(pipeline, "analytics.student_payment_summary")
    columns = ("gross_amount_minor", "refunded_amount_minor", "net_amount_minor", "dispute_loss_amount_minor",
               "failed_attempts", "disputes", "last_payment_at")
    need_columns("student_payment_summary", rows, ("student_id", "currency", "livemode", *columns))
    expected = expected_student_payment_summary(events, TIMEZONE)
    # The contract keys the summary on charges; the mart also lists a student's (currency, mode) that has only app
    # purchases without any charge (e.g. an abandoned checkout). Such a row is accepted when all its figures are 0.
    purchased = {(str(p["student_id"]), p["currency"].lower(), p["livemode"])
                 for p in select(pipeline, "app.purchase_transactions")}

    def purchase_without_charges(key: tuple, row: dict) -> bool:
        return key in purchased and row["last_payment_at"] is None and not any(
            row[c] for c in columns if c != "last_payment_at")

    assert_none(compare("student_payment_summary", rows,
                        lambda r: (str(r["student_id"]), r["currency"], r["livemode"]), expected, columns,
                        extra_ok=purchase_without_charges))


# -- reconciliation_exceptions --------------------------------------------------------------------------------

def test_reconciliation_exceptions(pipeline, events):
    rows = select(pipeline, "analytics.reconciliation_exceptions")
    need_columns("reconciliation_exceptions", rows, ("kind", "purchase_transaction_id", "charge_id"))
    purchases = select(pipeline, "app.purchase_transactions")
    computed = expected_reconciliation_exceptions(events, purchases)
    planted = planted_exceptions(pipeline.demo.disagreements)
    assert planted <= computed, f"our comparison misses planted disagreements {planted - computed}"
    actual = Counter((r["kind"], r["purchase_transaction_id"] and int(r["purchase_transaction_id"]), r["charge_id"])
                     for r in rows)
    assert {k for k, n in actual.items() if n > 1} == set(), "an exception is listed twice"
    assert planted <= set(actual), f"the mart misses planted disagreements {planted - set(actual)}"
    assert_none([f"reconciliation_exceptions {k}: expected, not in the mart" for k in sorted(computed - set(actual),
                                                                                                 key=repr)]
                + [f"reconciliation_exceptions {k}: in the mart, not found by our comparison"
                   for k in sorted(set(actual) - computed, key=repr)])


# -- fraud_signals --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fraud(pipeline, events) -> tuple[list[dict], dict[str, FraudRule], dict[str, dict]]:
    rows = select(pipeline, "analytics.fraud_signals")
    need_columns("fraud_signals", rows, ("entity_type", "entity_id", "customer_id", "rules_fired", "risk_score"))
    rules = {r.rule_name: r for r in map(FraudRule.from_row, select(pipeline, "analytics.fraud_rule_thresholds"))}
    return rows, rules, expected_fraud_signals(events, rules.values(), TIMEZONE)


def fired(row: dict | None) -> set[str]:
    value = None if row is None else row["rules_fired"]
    if value is None:
        return set()
    if isinstance(value, str):  # a comma-separated text column rather than an array
        return {v.strip() for v in value.strip("{}").split(",") if v.strip()}
    return set(value)


def _entities(rows: list[dict], entity_type: str) -> dict[str, dict]:
    return {r["entity_id"]: r for r in rows if r["entity_type"] == entity_type}


def _customer_rules(events: list[dict], expected: dict[str, dict]) -> dict[str, set[str]]:
    """decisions.md §16: a customer fires every rule any of its charges fired."""
    charges = expected_fct_charges(events, TIMEZONE)
    out: dict[str, set[str]] = defaultdict(set)
    for cid, want in expected.items():
        out[charges[cid]["customer_id"]] |= want["rules_fired"]
    return out


def test_fraud_signals_structural_invariants(fraud, events):
    """The contract's invariants, per charge and per customer: radar_risk ⇔ risk_level elevated/highest;
    many_cards ⇔ ≥ threshold (seed) distinct fingerprints in the seed's window up to the charge; prior_disputes ⇔
    a dispute opened on the customer's charges before it; risk_score = min(100, sum of the seed weights of
    rules_fired) on every row; rules_fired listed sorted; only rules of the seed."""
    rows, rules, expected = fraud
    charges, customers = _entities(rows, "charge"), _entities(rows, "customer")
    assert set(r["entity_type"] for r in rows) <= {"charge", "customer"}
    problems = []
    invariant = ("radar_risk", "many_cards", "prior_disputes")
    for cid, want in expected.items():
        got = fired(charges.get(cid))
        for rule in invariant:
            if (rule in want["rules_fired"]) != (rule in got):
                problems.append(f"fraud_signals charge {cid} {rule}: expected "
                                f"{'fired' if rule in want['rules_fired'] else 'not fired'}, rules_fired {sorted(got)}")
    for customer, want in _customer_rules(events, expected).items():
        got = fired(customers.get(customer))
        for rule in invariant:
            if (rule in want) != (rule in got):
                problems.append(f"fraud_signals customer {customer} {rule}: expected "
                                f"{'fired' if rule in want else 'not fired'}, rules_fired {sorted(got)}")
    for row in rows:
        names = fired(row)
        if unknown := names - set(rules):
            problems.append(f"fraud_signals {row['entity_id']}: rules not in the seed {sorted(unknown)}")
        score = min(100, sum(rules[r].weight for r in names if r in rules))
        if row["risk_score"] != score:
            problems.append(f"fraud_signals {row['entity_type']} {row['entity_id']} risk_score: expected {score} "
                            f"(rules {sorted(names)}), actual {row['risk_score']}")
        if isinstance(row["rules_fired"], str) and row["rules_fired"] != ",".join(sorted(names)):
            problems.append(f"fraud_signals {row['entity_id']} rules_fired not sorted: {row['rules_fired']!r}")
    problems += [f"fraud_signals charge {cid}: not a charge of the events" for cid in set(charges) - set(expected)]
    assert_none(problems)
    assert any(w["rules_fired"] for w in expected.values())


def test_fraud_signals_every_rule_as_the_seed_describes_it(fraud, events):
    """Every rule as decisions.md §16 and the seed's descriptions define it (tests/oracle_marts.py)."""
    rows, _, expected = fraud
    charges, customers = _entities(rows, "charge"), _entities(rows, "customer")
    problems = [f"fraud_signals charge {cid} rules_fired: expected {sorted(want['rules_fired'])}, actual "
                f"{sorted(fired(charges.get(cid)))}" for cid, want in expected.items()
                if want["rules_fired"] != fired(charges.get(cid))]
    problems += [f"fraud_signals customer {cus} rules_fired: expected {sorted(want)}, actual "
                 f"{sorted(fired(customers.get(cus)))}" for cus, want in _customer_rules(events, expected).items()
                 if want != fired(customers.get(cus))]
    assert_none(problems)


# -- integrity across marts -----------------------------------------------------------------------------------

def test_gross_and_refunds_agree_across_payments_daily_fct_charges_and_fct_refunds(payments_daily, fct_charges,
                                                                                     fct_refunds):
    def totals(rows: Iterable[dict], value: Callable[[dict], int]) -> dict[tuple, int]:
        out: dict[tuple, int] = defaultdict(int)
        for r in rows:
            out[(r["currency"], r["livemode"])] += value(r)
        return {k: v for k, v in out.items() if v}

    assert totals(payments_daily, lambda r: r["gross_amount_minor"]) == totals(
        fct_charges, lambda r: r["amount_captured_minor"] if r["status"] == "succeeded" and r["captured"] else 0)
    assert totals(payments_daily, lambda r: r["refunded_amount_minor"]) == totals(
        fct_refunds, lambda r: r["amount_minor"])


def test_payments_daily_still_matches_the_payments_daily_oracle(payments_daily, events):
    """The extension must not have moved the original figures (tests/oracle.py)."""
    expected = expected_payments_daily(events, TIMEZONE)
    days = reporting_days(events, TIMEZONE)
    keys = {(d, c, m) for (c, m), ds in days.items() for d in ds}
    assert {daily_key(r) for r in payments_daily} == keys, "payments_daily is not the dense calendar of decision 10"
    assert set(expected) <= keys


SETTLED = ("settlement_", "fee_amount", "net_after_fees_")
MONEY_MARTS = ("fct_charges", "fct_payment_intents", "fct_refunds", "fct_disputes", "payments_daily",
               "revenue_trends", "student_payment_summary")


@pytest.mark.parametrize("mart", MONEY_MARTS)
def test_major_amounts_use_each_currencys_exponent(pipeline, mart):
    """Every major column X (or X_amount) beside an X_minor column is X_minor / 10^exponent of the row's
    currency, exactly: jpy 0, kwd 3, most 2."""
    rows = select(pipeline, f"analytics.{mart}")
    need_columns(mart, rows, ("currency",))
    pairs = {}
    for column in rows[0]:
        if column.endswith("_minor"):
            base = column.removesuffix("_minor")
            for candidate in (base, f"{base}_amount"):
                if candidate in rows[0] and candidate != column:
                    pairs[candidate] = column
    assert pairs, f"{mart} has no major amount column beside its _minor ones: {sorted(rows[0])}"
    # payments_daily's balance figures are in the account's settlement currency, named on the row.
    settled = {c: m for c, m in pairs.items() if "settlement_currency" in rows[0] and m.startswith(SETTLED)}
    assert_none(check_major(mart, rows, {c: m for c, m in pairs.items() if c not in settled}, lambda r: r["currency"]))
    assert_none(check_major(mart, rows, settled, lambda r: r["settlement_currency"]))
