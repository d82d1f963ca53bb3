"""What a compliance export holds: one dataset per file, each a query over the analytics marts (or, for the audit
trail, the ops tables the database keeps append-only), its columns with their Parquet types, the order its rows
are written in, and which columns carry personal data.

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
MAJOR_AMOUNT = pa.decimal128(38, 9)
"""An amount in major units, as Stripe's own reports write it; exact, wide enough for any currency's exponent."""


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
    """the amount the manifest totals per currency (with the row count): minor units, or major units for Stripe's
    report; None: rows only"""
    check_query: str
    """an independent aggregate over the marts, `currency, rows, <amount_column>` for the period: the export fails
    when its written totals differ"""
    pii_columns: tuple[str, ...] = ()
    """personal data: a keyed hash unless the export is run with --include-pii"""

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([pa.field(name, kind) for name, kind in self.columns])

    @property
    def column_names(self) -> list[str]:
        return [name for name, _ in self.columns]


def totals_in_period(relation: str, day: str, amount: str | None = None) -> str:
    """An aggregate of the relation's rows whose reporting day falls in the period, asked apart from the dataset's
    own query: per currency, the rows and the sum of `amount`; or all rows together when there is no amount."""
    if amount is None:
        return f"select null as currency, count(*) as rows from {relation} where {day} between :start_day and :end_day"
    return (f"select currency, count(*) as rows, sum({amount}) as {amount} from {relation}"
            f" where {day} between :start_day and :end_day group by currency")


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
    check_query=totals_in_period("analytics.fct_charges", "created_day", "amount_minor"),
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
    check_query=totals_in_period("analytics.fct_refunds", "refunded_day", "amount_minor"),
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
    check_query=totals_in_period("analytics.fct_disputes", "(created_at at time zone :tz)::date", "amount_minor"),
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
    check_query=totals_in_period("analytics.reconciliation_exceptions", "(first_seen_at at time zone :tz)::date"),
)

BALANCE_CHANGE_FROM_ACTIVITY = Dataset(
    name="balance_change_from_activity",
    description="Stripe's itemized balance change from activity: every balance transaction created in the period, "
                "in the settlement currency, with fees and the automatic payout that carried it.",
    columns=(
        ("balance_transaction_id", TEXT), ("created", TIMESTAMP), ("available_on", TIMESTAMP), ("currency", TEXT),
        ("gross", MAJOR_AMOUNT), ("fee", MAJOR_AMOUNT), ("net", MAJOR_AMOUNT), ("reporting_category", TEXT),
        ("source_id", TEXT), ("description", TEXT), ("customer_facing_amount", MAJOR_AMOUNT),
        ("customer_facing_currency", TEXT), ("automatic_payout_id", TEXT),
        ("automatic_payout_effective_at", TIMESTAMP), ("customer_id", TEXT), ("charge_id", TEXT),
        ("payment_intent_id", TEXT), ("refund_id", TEXT), ("dispute_id", TEXT), ("card_brand", TEXT),
        ("card_country", TEXT), ("dispute_reason", TEXT),
    ),
    query="""
        select balance_transaction_id, created, available_on, currency, gross, fee, net, reporting_category,
               source_id, description, customer_facing_amount, customer_facing_currency, automatic_payout_id,
               automatic_payout_effective_at, customer_id, charge_id, payment_intent_id, refund_id, dispute_id,
               card_brand, card_country, dispute_reason
        from analytics.balance_change_from_activity
        where (created at time zone :tz)::date between :start_day and :end_day
        order by created, balance_transaction_id
    """,
    order="created, then balance_transaction_id",
    amount_column="net",
    check_query=totals_in_period("analytics.balance_change_from_activity", "(created at time zone :tz)::date", "net"),
    # Stripe's description is free text the platform wrote: here it names the student ("5-hour pack for …").
    pii_columns=("description",),
)

PAYOUTS = Dataset(
    name="payouts",
    description="Every payout created in the period, with its reconciliation: what its itemized transactions carried "
                "and how far that is from the payout's amount.",
    columns=(
        ("payout_id", TEXT), ("livemode", BOOLEAN), ("status", TEXT), ("currency", TEXT), ("amount_minor", INTEGER),
        ("created_at", TIMESTAMP), ("arrival_date", TIMESTAMP), ("method", TEXT), ("automatic", BOOLEAN),
        ("failure_code", TEXT), ("failure_message", TEXT), ("reconciliation_status", TEXT),
        ("itemized_transactions", INTEGER), ("itemized_net_minor", INTEGER), ("difference_minor", INTEGER),
        ("is_reconciled", BOOLEAN),
    ),
    query="""
        select p.payout_id, p.livemode, p.status, p.currency, p.amount_minor, p.created_at, p.arrival_date, p.method,
               p.automatic, p.failure_code, p.failure_message, p.reconciliation_status, p.itemized_transactions,
               p.itemized_net_minor, r.difference_minor, r.is_reconciled
        from analytics.fct_payouts as p
        left join analytics.payout_reconciliation as r
            on r.record_type = 'payout' and r.payout_id = p.payout_id
        where (p.created_at at time zone :tz)::date between :start_day and :end_day
        order by p.created_at, p.payout_id
    """,
    order="created_at, then payout_id",
    amount_column="amount_minor",
    check_query=totals_in_period("analytics.fct_payouts", "(created_at at time zone :tz)::date", "amount_minor"),
)

ADMIN_ACTIONS = Dataset(
    name="admin_actions",
    description="Every admin action requested or answered in the period, with its place in the audit chain "
                "(seq, prev_hash, row_hash: `payops audit verify` recomputes them).",
    columns=(
        ("seq", INTEGER), ("action_id", TEXT), ("request_id", TEXT), ("created_at", TIMESTAMP),
        ("admin_email", TEXT), ("action_type", TEXT), ("target_type", TEXT), ("target_id", TEXT), ("reason", TEXT),
        ("params", TEXT), ("idempotency_key", TEXT), ("status", TEXT), ("stripe_object_id", TEXT), ("error", TEXT),
        ("prev_hash", TEXT), ("row_hash", TEXT),
    ),
    query="""
        select seq, action_id::text, request_id::text, created_at, admin_email, action_type, target_type, target_id,
               reason, params::text, idempotency_key, status, stripe_object_id, error, prev_hash, row_hash
        from ops.admin_actions
        where (created_at at time zone :tz)::date between :start_day and :end_day
        order by seq
    """,
    order="seq (the chain's order)",
    amount_column=None,
    check_query=totals_in_period("ops.admin_actions", "(created_at at time zone :tz)::date"),
    pii_columns=("admin_email",),
)

RECONCILIATION_RESOLUTIONS = Dataset(
    name="reconciliation_resolutions",
    description="Every reconciliation exception an admin marked explained in the period, with the note.",
    columns=(
        ("resolution_id", INTEGER), ("kind", TEXT), ("purchase_transaction_id", TEXT), ("charge_id", TEXT),
        ("note", TEXT), ("resolved_by", TEXT), ("resolved_at", TIMESTAMP),
    ),
    query="""
        select resolution_id, kind, purchase_transaction_id, charge_id, note, resolved_by, resolved_at
        from ops.reconciliation_resolutions
        where (resolved_at at time zone :tz)::date between :start_day and :end_day
        order by resolution_id
    """,
    order="resolution_id",
    amount_column=None,
    check_query=totals_in_period("ops.reconciliation_resolutions", "(resolved_at at time zone :tz)::date"),
    pii_columns=("resolved_by",),
)

DATASETS: tuple[Dataset, ...] = (CHARGES, REFUNDS, DISPUTES, BALANCE_CHANGE_FROM_ACTIVITY, PAYOUTS,
                                 RECONCILIATION_EXCEPTIONS, RECONCILIATION_RESOLUTIONS, ADMIN_ACTIONS)
