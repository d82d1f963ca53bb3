-- Payouts against the bank, two kinds of row (record_type):
-- 'payout': each paid automatic payout, reconciled when the net of the transactions it carried equals its amount;
-- 'unpaid_transaction': each live balance transaction no payout carried yet (the payouts' own transactions
-- aside), with its age at this build.
with

payouts as (

    select * from {{ ref('fct_payouts') }}
    where status = 'paid' and automatic

),

unpaid as (

    select * from {{ ref('fct_balance_transactions') }}
    where automatic_payout_id is null
      and livemode
      and type != 'payout'

)

select
    'payout' as record_type,
    payout_id,
    cast(null as {{ dbt.type_string() }}) as balance_transaction_id,
    currency,
    amount_minor,
    coalesce(itemized_net_minor, 0) as itemized_net_minor,
    amount_minor - coalesce(itemized_net_minor, 0) as difference_minor,
    amount_minor = coalesce(itemized_net_minor, 0) as is_reconciled,
    created_at,
    arrival_date as available_on,
    cast(null as integer) as age_days

from payouts

union all

select
    'unpaid_transaction',
    cast(null as {{ dbt.type_string() }}),
    balance_transaction_id,
    currency,
    net_minor,
    cast(null as {{ dbt.type_bigint() }}),
    cast(null as {{ dbt.type_bigint() }}),
    cast(null as boolean),
    created_at,
    available_on,
    cast({{ dbt.datediff('created_at', dbt.current_timestamp(), 'day') }} as integer)

from unpaid
