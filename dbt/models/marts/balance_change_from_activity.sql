-- Stripe's "itemized balance change from activity" report: every live balance transaction except payouts and
-- their reversals, in major units of the settlement currency, with Stripe's column names where payops has
-- the column. The compliance export reads it.
-- Incremental (delete+insert on the key): the rows fct_balance_transactions wrote since this model's last build
-- (its built_at), which it rebuilds whenever a charge, dispute or payout read here changes too.
{{
    config(
        materialized=incremental_where_supported(),
        unique_key='balance_transaction_id',
        indexes=[
            {'columns': ['balance_transaction_id'], 'unique': true},
            {'columns': ['built_at']},
        ],
    )
}}

with

activity as (

    select * from {{ ref('fct_balance_transactions') }}
    where livemode
      and reporting_category not in ('payout', 'payout_reversal')
      and {{ written_since_last_build('built_at') }}

),

charges as (

    select charge_id, customer_id, card_brand, card_country from {{ ref('stg_stripe__charges') }}

),

disputes as (

    select dispute_id, reason from {{ ref('stg_stripe__disputes') }}

),

payouts as (

    select payout_id, arrival_date from {{ ref('stg_stripe__payouts') }}

)

select
    activity.balance_transaction_id,
    activity.created_at as created,
    activity.available_on,
    activity.currency,
    activity.amount as gross,
    activity.fee,
    activity.net,
    activity.reporting_category,
    activity.source_id,
    activity.description,
    activity.customer_facing_amount,
    activity.customer_facing_currency,
    activity.automatic_payout_id,
    payouts.arrival_date as automatic_payout_effective_at,
    charges.customer_id,
    activity.charge_id,
    activity.payment_intent_id,
    activity.refund_id,
    activity.dispute_id,
    charges.card_brand,
    charges.card_country,
    disputes.reason as dispute_reason,
    activity.built_at

from activity
left join charges
    on activity.charge_id = charges.charge_id
left join disputes
    on activity.dispute_id = disputes.dispute_id
left join payouts
    on activity.automatic_payout_id = payouts.payout_id
