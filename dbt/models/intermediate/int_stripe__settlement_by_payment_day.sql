-- The balance transactions behind payments_daily's figures, placed on the reporting day and presentment currency
-- payments_daily counts them on (docs/decisions.md, "Fees and settlement amounts in payments_daily"):
-- a charge's settled amount and fee on the charge's day (as gross), a refund's (or failed refund's) on the day it
-- moved, a lost dispute's withdrawal on the day it closed (as the dispute loss). Live transactions only.
-- Incremental (delete+insert on the key): a transaction is placed again when it changed, or its charge or refund
-- has a new state, or its dispute a new state or event (a close moves a lost dispute's day). Its rows never leave:
-- a captured charge stays captured, a lost dispute lost. The watermark is the transactions' newest arrival.
-- depends_on: {{ ref('stg_stripe__disputes') }}, {{ ref('base_stripe__dispute_events') }} (read on incremental builds only)
{{
    config(
        materialized=incremental_where_supported(),
        unique_key='balance_transaction_id',
        indexes=[
            {'columns': ['balance_transaction_id'], 'unique': true},
            {'columns': ['state_updated_at']},
        ],
    )
}}

with

{% if is_incremental() -%}
changed_sources as (

    select charge_id as source_id from {{ ref('stg_stripe__charges') }}
    where {{ changed_since_last_build('state_updated_at') }}

    union

    select refund_id from {{ ref('stg_stripe__refunds') }}
    where {{ changed_since_last_build('state_updated_at') }}

    union

    {{ objects_with_new_state_or_event('dispute', 'state_updated_at') }}

),

{% endif -%}
balance_transactions as (

    select * from {{ ref('stg_stripe__balance_transactions') }}
    where livemode
    {%- if is_incremental() %}
        and ({{ changed_since_last_build('state_updated_at') }}
            or {{ is_one_of('source_id', 'select source_id from changed_sources') }})
    {%- endif %}

),

charges as (

    select charge_id, currency, livemode, charge_created_at from {{ ref('stg_stripe__charges') }}
    where status = 'succeeded' and captured

),

refunds as (

    select refund_id, currency from {{ ref('stg_stripe__refunds') }}

),

lost_disputes as (

    select dispute_id, currency, closed_at from {{ ref('int_stripe__dispute_closures') }}
    where outcome = 'lost'

)

select
    balance_transactions.balance_transaction_id,
    {{ to_reporting_day('charges.charge_created_at') }} as day,
    charges.currency,
    charges.livemode,
    balance_transactions.currency as settlement_currency,
    balance_transactions.amount as settlement_gross_minor,
    balance_transactions.fee as fee_minor,
    0 as settlement_refunded_minor,
    0 as settlement_dispute_loss_minor,
    balance_transactions.state_updated_at

from balance_transactions
inner join charges
    on balance_transactions.source_id = charges.charge_id

union all

select
    balance_transactions.balance_transaction_id,
    {{ to_reporting_day('balance_transactions.balance_transaction_created_at') }},
    refunds.currency,
    balance_transactions.livemode,
    balance_transactions.currency,
    0,
    0,
    -balance_transactions.amount,
    0,
    balance_transactions.state_updated_at

from balance_transactions
inner join refunds
    on balance_transactions.source_id = refunds.refund_id

union all

select
    balance_transactions.balance_transaction_id,
    {{ to_reporting_day('lost_disputes.closed_at') }},
    lost_disputes.currency,
    balance_transactions.livemode,
    balance_transactions.currency,
    0,
    0,
    0,
    -balance_transactions.amount,
    balance_transactions.state_updated_at

from balance_transactions
inner join lost_disputes
    on balance_transactions.source_id = lost_disputes.dispute_id
