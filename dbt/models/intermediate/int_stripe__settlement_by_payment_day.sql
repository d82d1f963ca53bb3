-- The balance transactions behind payments_daily's figures, placed on the reporting day and presentment currency
-- payments_daily counts them on (docs/decisions.md, "Fees and settlement amounts in payments_daily"):
-- a charge's settled amount and fee on the charge's day (as gross), a refund's (or failed refund's) on the day it
-- moved, a lost dispute's withdrawal on the day it closed (as the dispute loss). Live transactions only.
with

balance_transactions as (

    select * from {{ ref('stg_stripe__balance_transactions') }}
    where livemode

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
