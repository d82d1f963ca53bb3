-- One row per payout, in its latest state, with the count and net sum of the balance transactions it carried.
-- Incremental (delete+insert on the key): a payout is recomputed when its state changed, when transactions it
-- carried were itemized, or when one of those changed; it then sums only its own transactions.
{{
    config(
        materialized=incremental_where_supported(),
        unique_key='payout_id',
        indexes=[{'columns': ['payout_id'], 'unique': true}],
    )
}}

with

{% if is_incremental() -%}
changed_transactions as (

    select balance_transaction_id from {{ ref('stg_stripe__balance_transactions') }}
    where {{ changed_since_last_build('state_updated_at') }}

),

changed_payouts as (

    select payout_id from {{ ref('stg_stripe__payouts') }}
    where {{ changed_since_last_build('state_updated_at') }}

    union

    select payout_id from {{ ref('stg_stripe__payout_balance_transactions') }}
    where {{ changed_since_last_build('loaded_at', 'state_updated_at') }}

    union

    select payout_id from {{ ref('stg_stripe__payout_balance_transactions') }}
    where {{ is_one_of('balance_transaction_id', 'select balance_transaction_id from changed_transactions') }}

),

{% endif -%}
payouts as (

    select * from {{ ref('stg_stripe__payouts') }}
    {%- if is_incremental() %}
    where {{ is_one_of('payout_id', 'select payout_id from changed_payouts') }}
    {%- endif %}

),

itemized as (

    select
        carried.payout_id,
        count(*) as itemized_transactions,
        sum(balance_transactions.net) as itemized_net_minor

    from {{ ref('stg_stripe__payout_balance_transactions') }} as carried
    inner join {{ ref('stg_stripe__balance_transactions') }} as balance_transactions
        on carried.balance_transaction_id = balance_transactions.balance_transaction_id
    {%- if is_incremental() %}
    where {{ is_one_of('carried.payout_id', 'select payout_id from payouts') }}
    {%- endif %}
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
    {{ money_columns('itemized.itemized_net_minor', 'itemized_net') }},
    payouts.state_updated_at

from payouts
left join itemized
    on payouts.payout_id = itemized.payout_id
left join currencies
    on payouts.currency = currencies.currency
