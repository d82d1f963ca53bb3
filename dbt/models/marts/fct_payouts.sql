-- One row per payout, in its latest state, with the count and net sum of the balance transactions it carried.
{{ config(indexes=[{'columns': ['payout_id'], 'unique': true}]) }}

with

payouts as (

    select * from {{ ref('stg_stripe__payouts') }}

),

itemized as (

    select
        carried.payout_id,
        count(*) as itemized_transactions,
        sum(balance_transactions.net) as itemized_net_minor

    from {{ ref('stg_stripe__payout_balance_transactions') }} as carried
    inner join {{ ref('stg_stripe__balance_transactions') }} as balance_transactions
        on carried.balance_transaction_id = balance_transactions.balance_transaction_id
    group by carried.payout_id

),

currencies as (

    select * from {{ ref('currencies') }}

)

select
    payouts.payout_id,
    payouts.livemode,
    payouts.status,
    {{ money_columns('payouts.amount', 'amount') }},
    payouts.currency,
    payouts.payout_created_at as created_at,
    payouts.arrival_date,
    payouts.method,
    payouts.automatic,
    payouts.failure_code,
    payouts.failure_message,
    payouts.reconciliation_status,
    payouts.balance_transaction_id,
    payouts.failure_balance_transaction_id,
    cast(coalesce(itemized.itemized_transactions, 0) as {{ dbt.type_bigint() }}) as itemized_transactions,
    {{ money_columns('itemized.itemized_net_minor', 'itemized_net') }}

from payouts
left join itemized
    on payouts.payout_id = itemized.payout_id
left join currencies
    on payouts.currency = currencies.currency
