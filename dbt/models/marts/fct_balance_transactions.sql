-- One row per balance transaction: every movement of the Stripe balance, in the settlement currency, with the
-- charge, refund, dispute or payout it belongs to, what the customer saw, and the automatic payout that carried it.
-- Incremental (delete+insert on the key): a transaction is rebuilt when it changed, when a payout itemization
-- names it, or when an object it is read with changed: its source (charge, refund, dispute, payout), a refund or
-- dispute of a changed charge (balance_change_from_activity reads the charge's customer and card through them),
-- or the payout that carried it. The automatic_payout_id index finds payout_reconciliation's few unpaid
-- transactions (null) without reading the others; the built_at index, the rows balance_change_from_activity copies.
{{
    config(
        materialized=incremental_where_supported(),
        unique_key='balance_transaction_id',
        indexes=[
            {'columns': ['balance_transaction_id'], 'unique': true},
            {'columns': ['sources_updated_at']},
            {'columns': ['automatic_payout_id']},
            {'columns': ['built_at']},
        ],
    )
}}

with

{% if is_incremental() -%}
changed_charges as (

    select charge_id from {{ ref('stg_stripe__charges') }}
    where {{ changed_since_last_build('state_updated_at', 'sources_updated_at') }}

),

changed_payouts as (

    select payout_id from {{ ref('stg_stripe__payouts') }}
    where {{ changed_since_last_build('state_updated_at', 'sources_updated_at') }}

),

changed_sources as (

    select charge_id as source_id from changed_charges

    union

    select refund_id from {{ ref('stg_stripe__refunds') }}
    where {{ changed_since_last_build('state_updated_at', 'sources_updated_at') }}
        or {{ is_one_of('charge_id', 'select charge_id from changed_charges') }}

    union

    select dispute_id from {{ ref('stg_stripe__disputes') }}
    where {{ changed_since_last_build('state_updated_at', 'sources_updated_at') }}
        or {{ is_one_of('charge_id', 'select charge_id from changed_charges') }}

    union

    select payout_id from changed_payouts

),

changed_ids as (

    select balance_transaction_id from {{ ref('stg_stripe__balance_transactions') }}
    where {{ changed_since_last_build('state_updated_at', 'sources_updated_at') }}

    union

    select balance_transaction_id from {{ ref('stg_stripe__balance_transactions') }}
    where {{ is_one_of('source_id', 'select source_id from changed_sources') }}

    union

    select balance_transaction_id from {{ ref('stg_stripe__payout_balance_transactions') }}
    where {{ changed_since_last_build('loaded_at', 'sources_updated_at') }}

    union

    select balance_transaction_id from {{ ref('stg_stripe__payout_balance_transactions') }}
    where {{ is_one_of('payout_id', 'select payout_id from changed_payouts') }}

),

{% endif -%}
balance_transactions as (

    select * from {{ ref('stg_stripe__balance_transactions') }}
    {%- if is_incremental() %}
    where {{ is_one_of('balance_transaction_id', 'select balance_transaction_id from changed_ids') }}
    {%- endif %}

),

charges as (

    select charge_id, payment_intent_id, amount_captured, currency from {{ ref('stg_stripe__charges') }}

),

refunds as (

    select refund_id, charge_id, payment_intent_id, amount, currency from {{ ref('stg_stripe__refunds') }}

),

disputes as (

    select dispute_id, charge_id, payment_intent_id, amount, currency from {{ ref('stg_stripe__disputes') }}

),

payouts as (

    select payout_id from {{ ref('stg_stripe__payouts') }}

),

carried as (

    select balance_transaction_id, min(payout_id) as automatic_payout_id
    from {{ ref('stg_stripe__payout_balance_transactions') }}
    {%- if is_incremental() %}
    where {{ is_one_of('balance_transaction_id', 'select balance_transaction_id from changed_ids') }}
    {%- endif %}
    group by balance_transaction_id

),

currencies as (

    select * from {{ ref('currencies') }}

),

-- Bookkeeping: the newest arrival among the inputs when the build ran, the next build's watermark.
sources as (

    select greatest(
        (select max(state_updated_at) from {{ ref('stg_stripe__balance_transactions') }}),
        (select max(loaded_at) from {{ ref('stg_stripe__payout_balance_transactions') }}),
        (select max(state_updated_at) from {{ ref('stg_stripe__charges') }}),
        (select max(state_updated_at) from {{ ref('stg_stripe__refunds') }}),
        (select max(state_updated_at) from {{ ref('stg_stripe__disputes') }}),
        (select max(state_updated_at) from {{ ref('stg_stripe__payouts') }})
    ) as sources_updated_at

),

linked as (

    select
        balance_transactions.*,
        charges.charge_id as direct_charge_id,
        refunds.refund_id,
        disputes.dispute_id,
        payouts.payout_id,
        coalesce(charges.charge_id, refunds.charge_id, disputes.charge_id) as charge_id,
        coalesce(charges.payment_intent_id, refunds.payment_intent_id, disputes.payment_intent_id)
            as payment_intent_id,
        -- What the customer saw, signed as the balance moved: a refund or a withdrawal takes, a failed refund
        -- or a reinstatement gives back.
        case
            when charges.charge_id is not null then charges.amount_captured
            when refunds.refund_id is not null then sign(balance_transactions.amount) * refunds.amount
            when disputes.dispute_id is not null then sign(balance_transactions.amount) * disputes.amount
        end as customer_facing_amount_minor,
        coalesce(charges.currency, refunds.currency, disputes.currency) as customer_facing_currency,
        carried.automatic_payout_id

    from balance_transactions
    left join charges
        on balance_transactions.source_id = charges.charge_id
    left join refunds
        on balance_transactions.source_id = refunds.refund_id
    left join disputes
        on balance_transactions.source_id = disputes.dispute_id
    left join payouts
        on balance_transactions.source_id = payouts.payout_id
    left join carried
        on balance_transactions.balance_transaction_id = carried.balance_transaction_id

)

select
    linked.balance_transaction_id,
    linked.livemode,
    linked.type,
    linked.reporting_category,
    linked.source_id,
    linked.charge_id,
    linked.payment_intent_id,
    linked.refund_id,
    linked.dispute_id,
    linked.payout_id,
    linked.currency,
    {{ money_columns('linked.amount', 'amount', 'settlement.exponent') }},
    {{ money_columns('linked.fee', 'fee', 'settlement.exponent') }},
    {{ money_columns('linked.net', 'net', 'settlement.exponent') }},
    cast(linked.stripe_fee as {{ dbt.type_bigint() }}) as stripe_fee_minor,
    cast(linked.application_fee as {{ dbt.type_bigint() }}) as application_fee_minor,
    cast(linked.tax_fee as {{ dbt.type_bigint() }}) as tax_fee_minor,
    cast(linked.exchange_rate as {{ dbt.type_numeric() }}) as exchange_rate,
    {{ minor_to_major('linked.customer_facing_amount_minor', 'customer_facing.exponent') }} as customer_facing_amount,
    cast(linked.customer_facing_amount_minor as {{ dbt.type_bigint() }}) as customer_facing_amount_minor,
    linked.customer_facing_currency,
    linked.balance_transaction_created_at as created_at,
    linked.available_on,
    linked.status,
    linked.description,
    linked.automatic_payout_id,
    sources.sources_updated_at,
    -- Which build wrote the row: balance_change_from_activity copies the rows written since its last build.
    {{ dbt.current_timestamp() }} as built_at

from linked
cross join sources
left join currencies as settlement
    on linked.currency = settlement.currency
left join currencies as customer_facing
    on linked.customer_facing_currency = customer_facing.currency
