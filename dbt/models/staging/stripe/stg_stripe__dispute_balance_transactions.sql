-- Balance transactions embedded in dispute events (funds withdrawn, funds reinstated), one row per
-- txn id: the same transaction is repeated by every later event about the dispute.
with

dispute_events as (

    select * from {{ ref('stg_stripe__events') }}
    where object_type = 'dispute'

),

embedded as (

    select
        dispute_events.event_id,
        dispute_events.event_created_at,
        dispute_events.livemode,
        dispute_events.object_id as dispute_id,
        balance_transaction.value as balance_transaction

    from dispute_events
    cross join lateral jsonb_array_elements(
        coalesce(dispute_events.data_object -> 'balance_transactions', '[]'::jsonb)
    ) as balance_transaction

),

typed as (

    select
        event_id,
        event_created_at,
        livemode,
        dispute_id,
        balance_transaction ->> 'id' as balance_transaction_id,
        balance_transaction ->> 'reporting_category' as reporting_category,
        cast(balance_transaction ->> 'amount' as bigint) as amount,
        cast(balance_transaction ->> 'fee' as bigint) as fee,
        cast(balance_transaction ->> 'net' as bigint) as net,
        lower(balance_transaction ->> 'currency') as currency,
        to_timestamp(cast(balance_transaction ->> 'created' as bigint)) as balance_transaction_created_at

    from embedded

),

latest as (

    {{ latest_state('typed', 'balance_transaction_id') }}

)

select
    balance_transaction_id,
    dispute_id,
    livemode,
    reporting_category,
    amount,
    fee,
    net,
    currency,
    balance_transaction_created_at

from latest
