-- One row per event whose object is a refund (refund.* and charge.refund.updated).
with

events as (

    select * from {{ ref('stg_stripe__events') }}
    where object_type = 'refund'

),

refund_states as (

    select
        event_id,
        event_type,
        event_created_at,
        received_at,
        livemode,
        object_id as refund_id,
        data_object ->> 'charge' as charge_id,
        data_object ->> 'payment_intent' as payment_intent_id,
        data_object ->> 'status' as status,
        {{ stripe_status_rank("data_object ->> 'status'", 'refund') }} as status_rank,
        cast(data_object ->> 'amount' as bigint) as amount,
        lower(data_object ->> 'currency') as currency,
        data_object ->> 'reason' as reason,
        data_object ->> 'failure_reason' as failure_reason,
        data_object ->> 'balance_transaction' as balance_transaction_id,
        object_created_at as refund_created_at

    from events

)

select * from refund_states
