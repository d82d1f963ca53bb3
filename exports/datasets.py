"""What a compliance export holds: one dataset per file, each a query over the analytics marts, its columns with
their Parquet types, the order its rows are written in, and which columns carry personal data.

Every query takes the period as reporting days (`:start_day`, `:end_day`, both included) in the reporting time
zone (`:tz`), as the marts cut their days. Rows come out in a total order (ending with the dataset's key), so the
same data always gives the same bytes. Timestamps are written in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

TEXT = pa.string()
INTEGER = pa.int64()
BOOLEAN = pa.bool_()
DAY = pa.date32()
TIMESTAMP = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class Dataset:
    name: str
    """the file's stem: `<name>.csv` and `<name>.parquet`"""
    description: str
    columns: tuple[tuple[str, pa.DataType], ...]
    query: str
    """selects exactly `columns`, in that order, for one period"""
    order: str
    """the row order, in words, for docs/exports.md and the manifest"""
    amount_column: str | None
    """the minor-unit amount the manifest totals per currency (with the row count); None: rows only"""
    check_query: str | None = None
    """an independent aggregate over the marts, `currency, rows, amount_minor` for the period: the export fails
    when its written totals differ (None: the dataset is checked by its row count alone)"""
    pii_columns: tuple[str, ...] = ()
    """personal data: a keyed hash unless the export is run with --include-pii"""

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([pa.field(name, kind) for name, kind in self.columns])

    @property
    def column_names(self) -> list[str]:
        return [name for name, _ in self.columns]


CHARGES = Dataset(
    name="charges",
    description="Every charge attempt created in the period, with its refunds, disputes and dispute fees.",
    columns=(
        ("charge_id", TEXT), ("payment_intent_id", TEXT), ("customer_id", TEXT), ("created_at", TIMESTAMP),
        ("created_day", DAY), ("livemode", BOOLEAN), ("currency", TEXT), ("amount_minor", INTEGER),
        ("amount_captured_minor", INTEGER), ("status", TEXT), ("captured", BOOLEAN), ("failure_code", TEXT),
        ("outcome_type", TEXT), ("card_brand", TEXT), ("card_country", TEXT), ("card_last4", TEXT),
        ("amount_refunded_minor", INTEGER), ("refunds", INTEGER), ("disputes", INTEGER),
        ("disputed_minor", INTEGER), ("dispute_fee_minor", INTEGER), ("billing_name", TEXT), ("billing_email", TEXT),
    ),
    # Card data stops at brand, country and last4: the fingerprint identifies a card across merchants' data and
    # is left out, as are expiry and every other card field. Name and email are the payer's personal data.
    query="""
        with refunds as (
            select charge_id, count(distinct refund_id) as refunds
            from analytics.fct_refunds
            group by charge_id
        ),
        disputes as (
            select charge_id, count(*) as disputes, sum(amount_minor) as disputed_minor,
                   sum(fee_minor) as dispute_fee_minor
            from analytics.fct_disputes
            group by charge_id
        )
        select c.charge_id, c.payment_intent_id, c.customer_id, c.created_at, c.created_day, c.livemode,
               c.currency, c.amount_minor, c.amount_captured_minor, c.status, c.captured, c.failure_code,
               c.outcome_type, c.card_brand, c.card_country,
               state.object -> 'payment_method_details' -> 'card' ->> 'last4' as card_last4,
               c.amount_refunded_minor, coalesce(refunds.refunds, 0) as refunds,
               coalesce(disputes.disputes, 0) as disputes, coalesce(disputes.disputed_minor, 0) as disputed_minor,
               coalesce(disputes.dispute_fee_minor, 0) as dispute_fee_minor,
               state.object -> 'billing_details' ->> 'name' as billing_name,
               coalesce(state.object -> 'billing_details' ->> 'email', state.object ->> 'receipt_email')
                   as billing_email
        from analytics.fct_charges as c
        left join refunds using (charge_id)
        left join disputes using (charge_id)
        left join raw.stripe_charges as state on state.id = c.charge_id
        where c.created_day between :start_day and :end_day
        order by c.created_at, c.charge_id
    """,
    order="created_at, then charge_id",
    amount_column="amount_minor",
    check_query="""
        select currency, count(*) as rows, sum(amount_minor) as amount_minor
        from analytics.fct_charges
        where created_day between :start_day and :end_day
        group by currency
    """,
    pii_columns=("billing_name", "billing_email"),
)

REFUNDS = Dataset(
    name="refunds",
    description="Every refund increment dated in the period (a refund is dated when it happened, not on its "
                "charge's day).",
    columns=(
        ("refund_increment_id", TEXT), ("refund_id", TEXT), ("charge_id", TEXT), ("refunded_at", TIMESTAMP),
        ("refunded_day", DAY), ("livemode", BOOLEAN), ("currency", TEXT), ("amount_minor", INTEGER),
        ("reason", TEXT), ("status", TEXT),
    ),
    query="""
        select refund_increment_id, refund_id, charge_id, refunded_at, refunded_day, livemode, currency,
               amount_minor, reason, status
        from analytics.fct_refunds
        where refunded_day between :start_day and :end_day
        order by refunded_at, refund_increment_id
    """,
    order="refunded_at, then refund_increment_id",
    amount_column="amount_minor",
    check_query="""
        select currency, count(*) as rows, sum(amount_minor) as amount_minor
        from analytics.fct_refunds
        where refunded_day between :start_day and :end_day
        group by currency
    """,
)

DISPUTES = Dataset(
    name="disputes",
    description="Every dispute opened in the period, with the money it withdrew, reinstated and cost in fees.",
    columns=(
        ("dispute_id", TEXT), ("charge_id", TEXT), ("payment_intent_id", TEXT), ("customer_id", TEXT),
        ("created_at", TIMESTAMP), ("livemode", BOOLEAN), ("currency", TEXT), ("amount_minor", INTEGER),
        ("status", TEXT), ("reason", TEXT), ("network", TEXT), ("is_inquiry", BOOLEAN),
        ("evidence_due_by", TIMESTAMP), ("withdrawn_minor", INTEGER), ("reinstated_minor", INTEGER),
        ("fee_minor", INTEGER), ("closed_at", TIMESTAMP), ("outcome", TEXT),
    ),
    query="""
        select dispute_id, charge_id, payment_intent_id, customer_id, created_at, livemode, currency, amount_minor,
               status, reason, network, is_inquiry, evidence_due_by, withdrawn_minor, reinstated_minor, fee_minor,
               closed_at, outcome
        from analytics.fct_disputes
        where (created_at at time zone :tz)::date between :start_day and :end_day
        order by created_at, dispute_id
    """,
    order="created_at, then dispute_id",
    amount_column="amount_minor",
    check_query="""
        select currency, count(*) as rows, sum(amount_minor) as amount_minor
        from analytics.fct_disputes
        where (created_at at time zone :tz)::date between :start_day and :end_day
        group by currency
    """,
)

RECONCILIATION_EXCEPTIONS = Dataset(
    name="reconciliation_exceptions",
    description="Every disagreement between the platform's records and Stripe first seen in the period.",
    columns=(
        ("kind", TEXT), ("purchase_transaction_id", TEXT), ("charge_id", TEXT), ("payment_intent_id", TEXT),
        ("app_value", TEXT), ("stripe_value", TEXT), ("first_seen_at", TIMESTAMP), ("livemode", BOOLEAN),
    ),
    query="""
        select kind, purchase_transaction_id, charge_id, payment_intent_id, app_value, stripe_value, first_seen_at,
               livemode
        from analytics.reconciliation_exceptions
        where (first_seen_at at time zone :tz)::date between :start_day and :end_day
        order by first_seen_at, kind, purchase_transaction_id, charge_id, payment_intent_id, app_value, stripe_value
    """,
    order="first_seen_at, kind, purchase_transaction_id, charge_id, payment_intent_id, app_value, then stripe_value"
          " (nulls last)",
    amount_column=None,
    check_query="""
        select null as currency, count(*) as rows, null as amount_minor
        from analytics.reconciliation_exceptions
        where (first_seen_at at time zone :tz)::date between :start_day and :end_day
    """,
)

DATASETS: tuple[Dataset, ...] = (CHARGES, REFUNDS, DISPUTES, RECONCILIATION_EXCEPTIONS)
