"""Every warehouse read the Streamlit app makes: cached, parameterized, aggregated in Postgres.

Readers take the `Settings` as their first argument so the cache keeps one entry per warehouse
and per reporting time zone. Pages import this module beside the entrypoint (`import data`),
the way Streamlit puts the entrypoint's folder on sys.path.
"""

from __future__ import annotations

import csv
import functools
import gc
import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import NamedTuple

import pandas as pd
import sqlalchemy as sa
import streamlit as st

from payops import db
from payops.settings import Settings

CACHE_TTL_SECONDS = 300
REFRESH_HINT = "Run `payops refresh` to build the analytics marts, then reload this page."


class MartMissing(LookupError):
    """An analytics table the page needs has not been built yet; the message names it."""


def current_settings() -> Settings:
    return Settings.from_env()


@functools.cache
def freeze_loaded_objects() -> None:
    """Once per process: move every object alive now out of the garbage collector's sight.

    Called after the app's imports: Streamlit, pandas, SQLAlchemy and Altair hold 150,000+ objects that live as long
    as the server, and every full collection walked them all, 100-120 ms on this 2-core machine, in whichever run it
    fell (the slowest transaction searches at 1 M charges, docs/benchmarks.md). Frozen, a collection walks only
    what runs create since. Collected first, so no garbage is frozen with them (frozen, it would never be freed)."""
    gc.collect()
    gc.freeze()


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def warehouse_label(settings: Settings) -> str:
    return db.masked(db.warehouse_url(settings))


def _require(conn: sa.Connection, table: str) -> None:
    # Checked up front so a missing mart is told apart from any other SQL error.
    if conn.execute(sa.text("select to_regclass(:table)"), {"table": table}).scalar() is None:
        raise MartMissing(f"The table `{table}` does not exist yet. {REFRESH_HINT}")


READER_ROLE = "payops_app_reader"
"""The Postgres role of migration 0006: SELECT on the analytics schema, ops.users and one ops view, nothing else."""


@st.cache_resource(show_spinner=False)
def reader_engine(settings: Settings) -> sa.Engine:
    """The app's only way into the warehouse: as the read-only role. PAYOPS_APP_WAREHOUSE_URL names it on a server
    that needs its password; on the embedded server (local socket) the role signs in as itself."""
    explicit = os.environ.get("PAYOPS_APP_WAREHOUSE_URL")
    if explicit:
        url = db.with_driver(explicit, "psycopg")
    else:
        url = db.warehouse_url(settings).set(username=READER_ROLE, password=None)
    return db.connect_check(sa.create_engine(url, pool_pre_ping=True))


@contextmanager
def reading(settings: Settings, table: str) -> Iterator[sa.Connection]:
    with reader_engine(settings).connect() as conn:
        _require(conn, table)
        yield conn


def _read(settings: Settings, table: str, sql: str, params: dict, parse_dates: list[str] | None = None) -> pd.DataFrame:
    with reading(settings, table) as conn:
        return pd.read_sql(sa.text(sql), conn, params=params, parse_dates=parse_dates)


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def payment_day_bounds(settings: Settings, livemode: bool) -> tuple[date, date] | None:
    """The first and last day with payments in this mode, or None when there are none."""
    with reading(settings, "analytics.payments_daily") as conn:
        first_day, last_day = conn.execute(
            sa.text("select min(day), max(day) from analytics.payments_daily where livemode = :livemode"),
            {"livemode": livemode},
        ).one()
    return None if first_day is None else (first_day, last_day)


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def currency_exponents(settings: Settings) -> dict[str, int]:
    """Minor-unit exponent per lowercase currency from the `analytics.currencies` seed; empty if not seeded."""
    try:
        exponents = _read(
            settings,
            "analytics.currencies",
            "select lower(currency) as currency, exponent from analytics.currencies",
            {},
        )
    except MartMissing:
        return {}
    return dict(zip(exponents["currency"], exponents["exponent"].astype(int), strict=True))


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def payment_totals(settings: Settings, livemode: bool, first_day: date, last_day: date) -> pd.DataFrame:
    """One row per currency: attempts, successes and money in exact minor units over the range."""
    return _read(
        settings,
        "analytics.payments_daily",
        """
        select currency,
               sum(charge_attempts)::bigint as charge_attempts,
               sum(charges_succeeded)::bigint as charges_succeeded,
               sum(gross_amount_minor)::bigint as gross_minor,
               sum(refunded_amount_minor)::bigint as refunded_minor,
               sum(dispute_loss_amount_minor)::bigint as dispute_loss_minor,
               sum(net_amount_minor)::bigint as net_minor
        from analytics.payments_daily
        where livemode = :livemode and day between :first_day and :last_day
        group by currency
        order by sum(charge_attempts) desc, currency
        """,
        {"livemode": livemode, "first_day": first_day, "last_day": last_day},
    )


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def payments_by_day(settings: Settings, livemode: bool, first_day: date, last_day: date) -> pd.DataFrame:
    """One row per day and currency, amounts in major units as floats: for charts and tables only."""
    return _read(
        settings,
        "analytics.payments_daily",
        """
        select day, currency,
               sum(charge_attempts)::bigint as charge_attempts,
               sum(charges_succeeded)::float8 / nullif(sum(charge_attempts), 0) as success_rate,
               sum(gross_amount)::float8 as gross,
               sum(refunded_amount)::float8 as refunded,
               sum(dispute_loss_amount)::float8 as dispute_loss,
               sum(net_amount)::float8 as net
        from analytics.payments_daily
        where livemode = :livemode and day between :first_day and :last_day
        group by day, currency
        order by day, currency
        """,
        {"livemode": livemode, "first_day": first_day, "last_day": last_day},
        parse_dates=["day"],
    )


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def data_freshness(settings: Settings) -> dict | None:
    """When the marts were last built and the newest event they saw; None before the first build."""
    try:
        with reading(settings, "analytics.data_freshness") as conn:
            row = conn.execute(sa.text(
                "select built_at, newest_event_created_at, newest_event_received_at from analytics.data_freshness"
            )).one_or_none()
    except MartMissing:
        return None
    return None if row is None else dict(row._mapping)


def latest_build(settings: Settings) -> object | None:
    """The last build's time, read fresh (not cached): how the app notices a refresh has landed."""
    with reader_engine(settings).connect() as conn:
        if conn.execute(sa.text("select to_regclass('analytics.data_freshness')")).scalar() is None:
            return None
        return conn.execute(sa.text("select max(built_at) from analytics.data_freshness")).scalar()


@st.cache_resource(show_spinner=False)
def _build_seen() -> dict:
    return {}


def forget_cache_after_a_new_build(settings: Settings) -> object | None:
    """Clear every cached reader once a new build of the marts has landed, so no page shows the previous build for
    the cache's lifetime; returns the build's time. One tiny uncached query per run."""
    built_at = latest_build(settings)
    seen = _build_seen()
    key = repr(settings)
    if key in seen and seen[key] != built_at:
        st.cache_data.clear()
    seen[key] = built_at
    return built_at


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def currencies_seen(settings: Settings, livemode: bool) -> list[str]:
    """Currencies with payments in this mode, most attempts first."""
    frame = _read(
        settings,
        "analytics.payments_daily",
        "select currency from analytics.payments_daily where livemode = :livemode "
        "group by currency order by sum(charge_attempts) desc, currency",
        {"livemode": livemode},
    )
    return frame["currency"].tolist()


# --- Revenue and refunds --------------------------------------------------------------------------------------


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def revenue_periods(
    settings: Settings, livemode: bool, period_type: str, first_day: date, last_day: date
) -> pd.DataFrame:
    """revenue_trends' weeks or months overlapping the range, with their partial flag and growth."""
    return _read(
        settings,
        "analytics.revenue_trends",
        """
        select period_start, period_end, currency, charges_succeeded,
               gross_amount::float8 as gross, refunded_amount::float8 as refunded,
               dispute_loss_amount::float8 as dispute_loss, net_amount::float8 as net,
               gross_amount_minor, net_amount_minor,
               gross_growth_rate::float8 as gross_growth_rate, net_growth_rate::float8 as net_growth_rate,
               days_covered, is_partial
        from analytics.revenue_trends
        where livemode = :livemode and period_type = :period_type
          and period_end >= :first_day and period_start <= :last_day
        order by currency, period_start
        """,
        {"livemode": livemode, "period_type": period_type, "first_day": first_day, "last_day": last_day},
        parse_dates=["period_start", "period_end"],
    )


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def refunds_by_day(settings: Settings, livemode: bool, first_day: date, last_day: date) -> pd.DataFrame:
    """Refund increments per day, currency and reason (fct_refunds, dated when refunded)."""
    return _read(
        settings,
        "analytics.fct_refunds",
        """
        select refunded_day as day, currency, coalesce(reason, '(none)') as reason,
               count(*)::bigint as refunds, sum(amount_minor)::bigint as amount_minor, sum(amount)::float8 as amount
        from analytics.fct_refunds
        where livemode = :livemode and refunded_day between :first_day and :last_day
        group by 1, 2, 3
        order by 1, 2, 3
        """,
        {"livemode": livemode, "first_day": first_day, "last_day": last_day},
        parse_dates=["day"],
    )


# --- Failures -------------------------------------------------------------------------------------------------

FAILURE_DIMENSIONS = ("failure_code", "decline_code", "card_brand", "card_country")


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def failure_currencies(settings: Settings, livemode: bool, first_day: date, last_day: date) -> pd.DataFrame:
    """Currencies with failed attempts in the range, most failures first: currency, failed_attempts."""
    return _read(
        settings,
        "analytics.failure_analysis",
        """
        select currency, sum(failed_attempts)::bigint as failed_attempts
        from analytics.failure_analysis
        where livemode = :livemode and day between :first_day and :last_day and dimension = 'failure_code'
        group by currency
        order by sum(failed_attempts) desc, currency
        """,
        {"livemode": livemode, "first_day": first_day, "last_day": last_day},
    )


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def failure_breakdown(
    settings: Settings, livemode: bool, currency: str, first_day: date, last_day: date
) -> pd.DataFrame:
    """Per dimension and value: failed attempts over the range and their share of the range's failures.

    Every failure has exactly one value per dimension ('(none)' included), so a dimension's values add up
    to all the range's failures and the share is taken within the dimension.
    """
    return _read(
        settings,
        "analytics.failure_analysis",
        """
        select dimension, dimension_value,
               sum(failed_attempts)::bigint as failed_attempts,
               sum(failed_attempts)::float8 / sum(sum(failed_attempts)) over (partition by dimension) as share
        from analytics.failure_analysis
        where livemode = :livemode and currency = :currency and day between :first_day and :last_day
        group by dimension, dimension_value
        order by dimension, sum(failed_attempts) desc, dimension_value
        """,
        {"livemode": livemode, "currency": currency, "first_day": first_day, "last_day": last_day},
    )


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def failure_spikes(settings: Settings, livemode: bool, currency: str, first_day: date, last_day: date) -> pd.DataFrame:
    """The days a value's share of failures jumped over its trailing-week baseline, newest first, with the
    minimum count the build judged them with."""
    return _read(
        settings,
        "analytics.failure_analysis",
        """
        select day, dimension, dimension_value, failed_attempts, failures_total,
               share::float8 as share, baseline_share::float8 as baseline_share, spike_min_failed_attempts
        from analytics.failure_analysis
        where livemode = :livemode and currency = :currency and day between :first_day and :last_day and is_spike
        order by day desc, dimension, share desc
        """,
        {"livemode": livemode, "currency": currency, "first_day": first_day, "last_day": last_day},
        parse_dates=["day"],
    )


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def spike_min_count(settings: Settings) -> int | None:
    """The minimum failed attempts a spike needs, as the last build of failure_analysis applied it."""
    with reading(settings, "analytics.failure_analysis") as conn:
        return conn.execute(sa.text("select max(spike_min_failed_attempts) from analytics.failure_analysis")).scalar()


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def success_rates_by_day(
    settings: Settings, livemode: bool, currency: str, first_day: date, last_day: date
) -> pd.DataFrame:
    """Per day: attempt success and intent success (payment intents by creation day), both from payments_daily."""
    return _read(
        settings,
        "analytics.payments_daily",
        """
        select day, charges_succeeded::float8 / nullif(charge_attempts, 0) as attempt_success_rate,
               intent_success_rate::float8 as intent_success_rate
        from analytics.payments_daily
        where livemode = :livemode and currency = :currency and day between :first_day and :last_day
        order by day
        """,
        {"livemode": livemode, "currency": currency, "first_day": first_day, "last_day": last_day},
        parse_dates=["day"],
    )


# --- Disputes -------------------------------------------------------------------------------------------------


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def dispute_months(settings: Settings, livemode: bool) -> pd.DataFrame:
    """dispute_metrics of one mode: per month and network, the program's ratio and whether the month is partial."""
    return _read(
        settings,
        "analytics.dispute_metrics",
        """
        select month, network, disputes, card_sales_same_month, card_transactions_prior_month,
               visa_ratio::float8 as visa_ratio, mastercard_ratio::float8 as mastercard_ratio,
               program_ratio::float8 as program_ratio, threshold_status, open_disputes, days_covered,
               is_partial_month
        from analytics.dispute_metrics
        where livemode = :livemode
        order by month desc, network
        """,
        {"livemode": livemode},
        parse_dates=["month"],
    )


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def network_thresholds(settings: Settings) -> pd.DataFrame:
    """The monitoring programs' levels (the network_thresholds seed), the newest version of each."""
    return _read(
        settings,
        "analytics.network_thresholds",
        """
        select distinct on (network, program, level, regions)
               network, program, level, min_count, max_count, ratio_threshold::float8 as ratio_threshold,
               denominator, regions, valid_from
        from analytics.network_thresholds
        order by network, program, level, regions, valid_from desc
        """,
        {},
    )


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def open_disputes(settings: Settings, livemode: bool) -> pd.DataFrame:
    """Open disputes (inquiries included), the most urgent evidence deadline first; amounts in minor units."""
    return _read(
        settings,
        "analytics.fct_disputes",
        """
        select dispute_id, charge_id, network, reason, status, is_inquiry, currency, amount_minor,
               created_at, evidence_due_by, days_left, needs_response, evidence_past_due
        from analytics.fct_disputes
        where livemode = :livemode and outcome = 'open'
        order by evidence_due_by nulls last, dispute_id
        """,
        {"livemode": livemode},
    )


# --- Webhooks -------------------------------------------------------------------------------------------------


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def webhook_hours(settings: Settings, hours: int) -> pd.DataFrame:
    """webhook_health for the hours of arrival within `hours` of the last build (both modes: the log has none)."""
    return _read(
        settings,
        "analytics.webhook_health",
        """
        select hour, received, webhook_deliveries, replayed, api_synced, processed, failed, retrying,
               webhook_lag_p50_seconds, webhook_lag_p95_seconds
        from analytics.webhook_health
        where hour >= date_trunc('hour', (select max(as_of) from analytics.webhook_lag_windows))
                      - make_interval(hours => :hours - 1)
        order by hour
        """,
        {"hours": hours},
    )


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def webhook_window(settings: Settings, hours: int) -> dict | None:
    """webhook_lag_windows' row for the window: counts by arrival and state, webhook-only lag percentiles."""
    with reading(settings, "analytics.webhook_lag_windows") as conn:
        row = conn.execute(
            sa.text("select * from analytics.webhook_lag_windows where window_hours = :hours"), {"hours": hours}
        ).one_or_none()
    return None if row is None else dict(row._mapping)


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def failed_webhook_events(settings: Settings) -> pd.DataFrame:
    """Events that failed for good, newest first; never the payload."""
    return _read(
        settings,
        "ops.failed_webhook_events",
        """
        select event_id, event_type, livemode, error_message, retry_count, event_created_at, received_at
        from ops.failed_webhook_events
        order by received_at desc, event_id
        """,
        {},
    )


HELD_BACK_COLUMNS = ("event_id", "event_type", "object_id", "error", "attempts", "received_at", "last_attempt_at")


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def held_back_events(settings: Settings) -> pd.DataFrame | None:
    """The events processing holds back (the `held_back_events` mart), newest attempt first; None while that mart
    does not exist in this warehouse."""
    try:
        return _read(
            settings,
            "analytics.held_back_events",
            f"select {', '.join(HELD_BACK_COLUMNS)} from analytics.held_back_events "
            "order by last_attempt_at desc nulls last, event_id",
            {},
        )
    except MartMissing:
        return None


# --- Reconciliation -------------------------------------------------------------------------------------------

RECONCILIATION_KINDS = (
    "missing_in_stripe", "missing_in_app", "status_mismatch", "amount_mismatch", "currency_mismatch",
)


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def reconciliation_counts(settings: Settings, livemode: bool) -> dict[str, int]:
    """Exceptions per kind in one mode, every kind present (zero when none)."""
    counts = _read(
        settings,
        "analytics.reconciliation_exceptions",
        """
        select kind, count(*)::bigint as exceptions
        from analytics.reconciliation_exceptions
        where livemode = :livemode
        group by kind
        """,
        {"livemode": livemode},
    )
    found = dict(zip(counts["kind"], counts["exceptions"].astype(int), strict=True))
    return {kind: found.get(kind, 0) for kind in RECONCILIATION_KINDS} | found


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def reconciliation_at_stake(settings: Settings, livemode: bool) -> pd.DataFrame:
    """Per currency: exceptions and the money at stake, in exact minor units."""
    return _read(
        settings,
        "analytics.reconciliation_exceptions",
        """
        select currency, count(*)::bigint as exceptions, sum(amount_at_stake_minor)::bigint as at_stake_minor
        from analytics.reconciliation_exceptions
        where livemode = :livemode
        group by currency
        order by currency
        """,
        {"livemode": livemode},
    )


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def reconciliation_exceptions(settings: Settings, livemode: bool, kinds: tuple[str, ...]) -> pd.DataFrame:
    """The exceptions of the given kinds in one mode, newest first."""
    return _read(
        settings,
        "analytics.reconciliation_exceptions",
        """
        select kind, purchase_transaction_id, charge_id, payment_intent_id, app_value, stripe_value, currency,
               amount_at_stake_minor, first_seen_at
        from analytics.reconciliation_exceptions
        where livemode = :livemode and kind = any(:kinds)
        order by first_seen_at desc, kind, purchase_transaction_id, charge_id
        """,
        {"livemode": livemode, "kinds": list(kinds)},
    )


# --- Fraud signals --------------------------------------------------------------------------------------------


FRAUD_ROWS_SHOWN = 500
"""The riskiest customers and charges a page lists: a million charges score hundreds of thousands, which no one reads
and which took seconds to send to the browser."""


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def fraud_scored(settings: Settings) -> dict[str, dict[str, int]]:
    """Per entity type ('customer', 'charge'): how many fraud_signals scored and the highest score; every type
    present (0 and None when none)."""
    totals = _read(
        settings,
        "analytics.fraud_signals",
        "select entity_type, count(*)::bigint as scored, max(risk_score) as highest_score "
        "from analytics.fraud_signals group by entity_type",
        {},
    )
    found = {row.entity_type: {"scored": int(row.scored), "highest_score": int(row.highest_score)}
             for row in totals.itertuples(index=False)}
    return {kind: found.get(kind, {"scored": 0, "highest_score": None}) for kind in ("customer", "charge")}


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def fraud_signals(settings: Settings, entity_type: str, limit: int = FRAUD_ROWS_SHOWN) -> pd.DataFrame:
    """The `limit` riskiest scored customers or charges, riskiest first, with the rules that fired."""
    return _read(
        settings,
        "analytics.fraud_signals",
        """
        select entity_id, customer_id, risk_score, rules_fired
        from analytics.fraud_signals
        where entity_type = :entity_type
        order by risk_score desc, entity_id
        limit :limit
        """,
        {"entity_type": entity_type, "limit": limit},
    )


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def fraud_rules(settings: Settings) -> pd.DataFrame:
    """Each rule's threshold, window, weight and meaning (the fraud_rule_thresholds seed)."""
    return _read(
        settings,
        "analytics.fraud_rule_thresholds",
        "select rule_name, threshold, window_minutes, amount_cap_major, weight, description "
        "from analytics.fraud_rule_thresholds order by weight desc, rule_name",
        {},
    )


# --- Students -------------------------------------------------------------------------------------------------


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def find_students(settings: Settings, term: str, limit: int = 50) -> pd.DataFrame:
    """Students whose id, name or email (theirs or their family's) contains the term."""
    return _read(
        settings,
        "analytics.dim_students",
        r"""
        select student_id, student_name, student_email, family_name, family_email, stripe_customer_id
        from analytics.dim_students
        where student_id = :term or student_name ilike :pattern escape '\'
           or student_email ilike :pattern escape '\' or family_email ilike :pattern escape '\'
        order by student_name, student_id
        limit :limit
        """,
        {"term": term.strip(), "pattern": contains_pattern(term), "limit": limit},
    )


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def student_summary(settings: Settings, student_id: str, livemode: bool) -> pd.DataFrame:
    """student_payment_summary's rows of one student (one per currency)."""
    return _read(
        settings,
        "analytics.student_payment_summary",
        """
        select currency, gross_amount_minor, refunded_amount_minor, dispute_loss_amount_minor, net_amount_minor,
               purchases, failed_attempts, disputes, hours_purchased::float8 as hours_purchased,
               hours_balance::float8 as hours_balance, last_payment_at
        from analytics.student_payment_summary
        where student_id = :student_id and livemode = :livemode
        order by currency
        """,
        {"student_id": student_id, "livemode": livemode},
    )


def contains_pattern(term: str) -> str:
    """An ILIKE pattern matching the term anywhere, its own % and _ taken literally."""
    escaped = term.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# --- Transactions ---------------------------------------------------------------------------------------------

CHARGE_STATUSES = ("succeeded", "failed", "pending")
TRANSACTION_COLUMNS = """
    charges.charge_id, charges.created_at, charges.status, charges.currency, charges.amount_minor,
    charges.amount::float8 as amount, charges.amount_refunded_minor, charges.disputed, charges.failure_code,
    charges.card_brand, charges.customer_id, charges.payment_intent_id, charges.student_id, students.student_name,
    students.family_email
"""


@dataclass(frozen=True)
class TransactionSearch:
    """A transaction search: the global filters plus the page's own. Hashable, so readers cache on it."""

    livemode: bool
    first_day: date
    last_day: date
    currency: str | None = None
    text: str = ""
    """A charge, payment intent, customer or student id (exact), or part of an email or a student's name."""
    status: str | None = None
    min_amount: Decimal | None = None
    max_amount: Decimal | None = None

    def as_json(self) -> dict:
        """The search in JSON's types (a download link carries it); `from_json` reads it back."""
        return {
            "livemode": self.livemode, "first_day": self.first_day.isoformat(), "last_day": self.last_day.isoformat(),
            "currency": self.currency, "text": self.text, "status": self.status,
            "min_amount": None if self.min_amount is None else str(self.min_amount),
            "max_amount": None if self.max_amount is None else str(self.max_amount),
        }

    @classmethod
    def from_json(cls, fields: dict) -> TransactionSearch:
        return cls(
            livemode=fields["livemode"], first_day=date.fromisoformat(fields["first_day"]),
            last_day=date.fromisoformat(fields["last_day"]), currency=fields["currency"], text=fields["text"],
            status=fields["status"],
            min_amount=None if fields["min_amount"] is None else Decimal(fields["min_amount"]),
            max_amount=None if fields["max_amount"] is None else Decimal(fields["max_amount"]),
        )

    def where(self, timezone: str, matched: TextMatch | None) -> tuple[str, dict]:
        """The SQL condition on `charges` and its parameters: only the filters given, every value a bound parameter;
        the text as what it matched (`text_match`, None without text).

        The days are bounds on created_at (the reporting days' first and last instants in `timezone`, the zone
        created_day is taken in), not on created_day: the created_at index then reads only the range's rows, newest
        first, where a condition on created_day had it read every newer charge before reaching the range."""
        clauses = [
            "charges.livemode = :livemode",
            "charges.created_at >= cast(:first_day as timestamp) at time zone :timezone",
            "charges.created_at < (cast(:last_day as timestamp) + interval '1 day') at time zone :timezone",
        ]
        params: dict = {"livemode": self.livemode, "first_day": self.first_day, "last_day": self.last_day,
                        "timezone": timezone}
        if self.currency:
            clauses.append("charges.currency = :currency")
            params["currency"] = self.currency
        if self.status:
            clauses.append("charges.status = :status")
            params["status"] = self.status
        if self.min_amount is not None:
            clauses.append("charges.amount >= :min_amount")
            params["min_amount"] = self.min_amount
        if self.max_amount is not None:
            clauses.append("charges.amount <= :max_amount")
            params["max_amount"] = self.max_amount
        if matched is not None:
            clauses.append(f"charges.{matched.column} = any(:matched_ids)")
            params["matched_ids"] = list(matched.ids)
        return " and ".join(clauses), params


class TextMatch(NamedTuple):
    """What a search's text matched: charges by one of their ids, else students by part of a name or email."""

    column: str
    """The fct_charges column the ids are of: charge_id or student_id."""
    ids: tuple[str, ...]


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def text_match(settings: Settings, text: str) -> TextMatch | None:
    """The charges whose charge, payment intent, customer or student id is the text; else (no id is) the students
    whose name or email, or their family's email, contains it (dim_students.search_text). None without text.

    Looked up once per text, before the count and the page, which then read fct_charges' indexes alone: the students
    scan is the search's dearest step (~50 ms at 165,000 students), and pg_trgm, whose index would spare it, is not in
    the embedded Postgres. Each id through its own index: one `or` across the columns had Postgres scan every charge."""
    term = text.strip()
    if not term:
        return None
    with reading(settings, "analytics.dim_students") as conn:
        charge_ids = conn.execute(sa.text("""
            select charge_id from analytics.fct_charges where charge_id = :term
            union select charge_id from analytics.fct_charges where payment_intent_id = :term
            union select charge_id from analytics.fct_charges where customer_id = :term
            union select charge_id from analytics.fct_charges where student_id = :term
        """), {"term": term}).scalars().all()
        if charge_ids:
            return TextMatch("charge_id", tuple(charge_ids))
        student_ids = conn.execute(
            sa.text(r"select student_id from analytics.dim_students where search_text like :pattern escape '\'"),
            {"pattern": contains_pattern(term.lower())},
        ).scalars().all()
    return TextMatch("student_id", tuple(student_ids))


def _transactions_sql(search: TransactionSearch, timezone: str, matched: TextMatch | None, tail: str
                      ) -> tuple[str, dict]:
    """The matching charges with their student, newest first. The ids are ordered and cut (`tail`, a limit) before
    the rest of each charge is read: reading all 30,000+ charges of a common name's 5,000 students to sort them took
    ~900 ms at 1 M charges; now Postgres walks the created_at index backwards until it has the page (13 ms), or for a
    few students orders their charges from the (student_id, livemode, created_at, charge_id) index."""
    where, params = search.where(timezone, matched)
    return (
        f"""
        select {TRANSACTION_COLUMNS}
        from (
            select charges.charge_id, charges.created_at from analytics.fct_charges as charges where {where}
            order by charges.created_at desc, charges.charge_id desc {tail}
        ) as found
        join analytics.fct_charges as charges on charges.charge_id = found.charge_id
        left join analytics.dim_students as students on students.student_id = charges.student_id
        order by found.created_at desc, found.charge_id desc
        """,
        params,
    )


def page_sql(search: TransactionSearch, timezone: str, matched: TextMatch | None, page: int, page_size: int
             ) -> tuple[str, dict]:
    sql, params = _transactions_sql(search, timezone, matched, "limit :limit offset :offset")
    return sql, params | {"limit": page_size, "offset": page * page_size}


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def search_transactions(settings: Settings, search: TransactionSearch, page: int, page_size: int) -> pd.DataFrame:
    """One page of the matching charges, newest first: filtered, ordered and cut in Postgres."""
    sql, params = page_sql(search, settings.timezone, text_match(settings, search.text), page, page_size)
    return _read(settings, "analytics.fct_charges", sql, params)


COUNT_CAP = 10_000
"""Matches are counted up to here: counting a year of a million charges would cost more than finding them."""


def count_sql(search: TransactionSearch, timezone: str, matched: TextMatch | None) -> tuple[str, dict]:
    where, params = search.where(timezone, None)
    params["cap"] = COUNT_CAP + 1
    if matched is None:
        sql = f"select count(*) from (select from analytics.fct_charges as charges where {where} limit :cap) as capped"
        return sql, params
    # The matched ids one at a time, each answered by its index alone, until the cap: given the whole list, the
    # planner scanned a third of fct_charges instead (200 ms for a common name's 5,000 students at 1 M charges).
    sql = f"""
        select count(*) from (
            select from unnest(cast(:matched_ids as text[])) as matched(id)
            cross join lateral (
                select from analytics.fct_charges as charges where charges.{matched.column} = matched.id and {where}
            ) as found
            limit :cap
        ) as capped"""
    return sql, params | {"matched_ids": list(matched.ids)}


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def count_transactions(settings: Settings, search: TransactionSearch) -> int:
    """How many charges match, up to COUNT_CAP + 1 (more than the cap: "10,000+")."""
    sql, params = count_sql(search, settings.timezone, text_match(settings, search.text))
    with reading(settings, "analytics.fct_charges") as conn:
        return conn.execute(sa.text(sql), params).scalar()


def transactions_csv(settings: Settings, search: TransactionSearch, batch_rows: int = 5_000) -> Iterator[bytes]:
    """Every matching charge as CSV, header first, read through a server-side cursor a batch at a time: memory stays
    the same whatever the number of rows."""
    sql, params = _transactions_sql(search, settings.timezone, text_match(settings, search.text), "")
    with reading(settings, "analytics.fct_charges") as conn:
        result = conn.execution_options(stream_results=True, max_row_buffer=batch_rows).execute(sa.text(sql), params)
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(result.keys())
        for rows in result.partitions(batch_rows):
            writer.writerows(rows)
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
        yield buffer.getvalue().encode()


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def charge_detail(settings: Settings, charge_id: str) -> dict[str, pd.DataFrame]:
    """Everything the warehouse knows about one charge: the charge, its event timeline, refunds, disputes, fraud
    signals and reconciliation exceptions (each a frame, empty when none)."""
    queries = {
        "charge": ("analytics.fct_charges", f"""
            select {TRANSACTION_COLUMNS}, charges.captured, charges.decline_code, charges.outcome_type,
                   charges.risk_level, charges.risk_score, charges.card_country, charges.purchase_transaction_id
            from analytics.fct_charges as charges
            left join analytics.dim_students as students on students.student_id = charges.student_id
            where charges.charge_id = :charge_id"""),
        "events": ("analytics.fct_charge_events", """
            select event_created_at, event_type, event_id, object_id, ingest_channel, received_at
            from analytics.fct_charge_events where charge_id = :charge_id order by event_created_at, event_id"""),
        "refunds": ("analytics.fct_refunds", """
            select refunded_at, refund_id, amount_minor, currency, reason, status
            from analytics.fct_refunds where charge_id = :charge_id order by refunded_at"""),
        "disputes": ("analytics.fct_disputes", """
            select created_at, dispute_id, status, reason, amount_minor, currency, evidence_due_by, outcome
            from analytics.fct_disputes where charge_id = :charge_id order by created_at"""),
        "fraud": ("analytics.fraud_signals", """
            select entity_type, entity_id, risk_score, rules_fired from analytics.fraud_signals
            where entity_id = :charge_id
               or entity_id = (select customer_id from analytics.fct_charges where charge_id = :charge_id)
            order by entity_type"""),
        "reconciliation": ("analytics.reconciliation_exceptions", """
            select kind, app_value, stripe_value, currency, amount_at_stake_minor, first_seen_at,
                   purchase_transaction_id
            from analytics.reconciliation_exceptions where charge_id = :charge_id order by first_seen_at"""),
    }
    return {name: _read(settings, table, sql, {"charge_id": charge_id}) for name, (table, sql) in queries.items()}


# --- System health --------------------------------------------------------------------------------------------


def warehouse_reachable(settings: Settings) -> str | None:
    """None when the warehouse answers as the app's read-only role, else why not."""
    try:
        with reader_engine(settings).connect() as conn:
            conn.execute(sa.text("select 1"))
    except (db.WarehouseUnavailable, sa.exc.SQLAlchemyError) as exc:
        return str(exc).splitlines()[0]
    return None


@st.cache_data(ttl=60, show_spinner=False)
def dagster_status(settings: Settings) -> dict:
    """From Dagster's instance (its own storage, not the warehouse): the last runs, the last run's dbt tests (asset
    check results), and every schedule and sensor with its last tick. {'error': …} when it cannot be read."""
    if not os.environ.get("DAGSTER_HOME") or not os.environ.get("DAGSTER_PG_URL"):
        return {"error": "DAGSTER_HOME and DAGSTER_PG_URL are not set for this process: start the app with "
                         "`payops serve`, which sets them."}
    import dagster as dg  # Only this page needs Dagster; importing it costs a second.

    try:
        with dg.DagsterInstance.get() as instance:
            runs = instance.get_runs(limit=5)
            last_runs = pd.DataFrame(
                [{"run_id": run.run_id[:8], "job": run.job_name, "status": run.status.value,
                  "started_at": _run_time(instance, run.run_id, "start_time"),
                  "ended_at": _run_time(instance, run.run_id, "end_time")} for run in runs],
                columns=["run_id", "job", "status", "started_at", "ended_at"],
            )
            checks = pd.DataFrame(columns=["check", "asset", "passed"])
            finished = [run for run in runs if run.status.value == "SUCCESS" or run.status.value == "FAILURE"]
            if finished:
                evaluations = instance.all_logs(finished[0].run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
                checks = pd.DataFrame(
                    [{"check": e.dagster_event.event_specific_data.check_name,
                      "asset": e.dagster_event.event_specific_data.asset_key.to_user_string(),
                      "passed": e.dagster_event.event_specific_data.passed} for e in evaluations],
                    columns=["check", "asset", "passed"],
                )
            instigators = []
            for state in instance.all_instigator_state():
                ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=1)
                tick = ticks[0] if ticks else None
                instigators.append({
                    "name": state.instigator_name, "kind": state.instigator_type.value.lower(),
                    "state": state.status.value.lower(),
                    "last_tick_at": pd.Timestamp(tick.timestamp, unit="s", tz="UTC") if tick else None,
                    "last_tick": tick.status.value.lower() if tick else "never ticked",
                })
    except Exception as exc:  # noqa: BLE001 - whatever Dagster raises, the page says it and goes on
        return {"error": f"Dagster's instance could not be read: {exc}"}
    return {"runs": last_runs, "checks": checks,
            "instigators": pd.DataFrame(instigators, columns=["name", "kind", "state", "last_tick_at", "last_tick"])}


def _run_time(instance, run_id: str, field: str):
    record = instance.get_run_record_by_id(run_id)
    seconds = getattr(record, field, None) if record else None
    return None if seconds is None else pd.Timestamp(seconds, unit="s", tz="UTC")


# The Notifications page reads the notifier's own tables (ops.alert_conditions, ops.alert_deliveries): they are
# live operational state, like the failed events above, not figures a refresh computes.
@st.cache_data(ttl=30, show_spinner=False)
def alert_conditions(settings: Settings, days: int) -> pd.DataFrame:
    """Conditions open now or opened in the last `days`, newest first."""
    return _read(
        settings,
        "ops.alert_conditions",
        """
        select key, kind, severity, message, opened_at, resolved_at, resolved_at is null as is_open
        from ops.alert_conditions
        where resolved_at is null or opened_at >= now() - make_interval(days => :days)
        order by resolved_at is null desc, opened_at desc
        limit 500
        """,
        {"days": days},
        parse_dates=["opened_at", "resolved_at"],
    )


@st.cache_data(ttl=30, show_spinner=False)
def alert_delivery_status(settings: Settings, days: int) -> pd.DataFrame:
    """Per channel: messages delivered, still undelivered (their latest attempt failed), retries, the last error."""
    return _read(
        settings,
        "ops.alert_deliveries",
        """
        with latest as (
            select distinct on (condition_id, channel, transition) *
            from ops.alert_deliveries
            where attempted_at >= now() - make_interval(days => :days)
            order by condition_id, channel, transition, attempt desc
        )
        select channel,
               count(*) filter (where delivered) as delivered,
               count(*) filter (where not delivered) as undelivered,
               sum(attempt - 1) as retries,
               max(attempted_at) as last_attempt_at,
               (array_agg(error order by attempted_at desc) filter (where error is not null))[1] as last_error
        from latest
        group by channel
        order by channel
        """,
        {"days": days},
        parse_dates=["last_attempt_at"],
    )


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def payouts(settings: Settings, livemode: bool) -> pd.DataFrame:
    """Every payout in one mode, newest first, with what its itemization carried."""
    return _read(
        settings,
        "analytics.fct_payouts",
        """
        select payout_id, status, amount, amount_minor, currency, created_at, arrival_date, automatic,
               failure_code, failure_message, reconciliation_status, itemized_transactions, itemized_net
        from analytics.fct_payouts
        where livemode = :livemode
        order by created_at desc, payout_id
        """,
        {"livemode": livemode},
        parse_dates=["created_at", "arrival_date"],
    )


PAYOUT_ROWS_SHOWN = 500
"""The rows a Payouts table lists: at a million charges, tens of thousands of balance transactions await a payout."""


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def payout_reconciliation(settings: Settings, record_type: str, limit: int = PAYOUT_ROWS_SHOWN) -> pd.DataFrame:
    """Up to `limit` rows of one kind of payout_reconciliation (live money only): 'payout' rows, newest first, or
    'unpaid_transaction' rows, oldest first."""
    return _read(
        settings,
        "analytics.payout_reconciliation",
        """
        select payout_id, balance_transaction_id, currency, amount_minor, itemized_net_minor, difference_minor,
               is_reconciled, created_at, available_on, age_days
        from analytics.payout_reconciliation
        where record_type = :record_type
        order by case when record_type = 'payout' then -extract(epoch from created_at)
                      else extract(epoch from created_at) end,
                 payout_id, balance_transaction_id
        limit :limit
        """,
        {"record_type": record_type, "limit": limit},
        parse_dates=["created_at", "available_on"],
    )


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def payout_reconciliation_totals(settings: Settings) -> pd.DataFrame:
    """Per kind of payout_reconciliation row and currency: rows, rows not reconciled, and their net in minor
    units."""
    return _read(
        settings,
        "analytics.payout_reconciliation",
        """
        select record_type, currency, count(*)::bigint as records,
               count(*) filter (where not is_reconciled)::bigint as not_reconciled,
               sum(amount_minor)::bigint as amount_minor
        from analytics.payout_reconciliation
        group by record_type, currency
        order by record_type, currency
        """,
        {},
    )
