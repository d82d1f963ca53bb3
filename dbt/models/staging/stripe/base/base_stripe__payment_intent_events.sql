-- One row per event whose object is a payment intent: the intent as that event saw it.
with

events as (

    select * from {{ ref('stg_stripe__events') }}
    where object_type = 'payment_intent'

),

payment_intent_states as (

    select
        event_id,
        event_type,
        event_created_at,
        received_at,
        livemode,
        object_id as payment_intent_id,
        data_object ->> 'customer' as customer_id,
        data_object ->> 'latest_charge' as latest_charge_id,
        data_object ->> 'status' as status,
        {{ stripe_status_rank("data_object ->> 'status'", 'payment_intent') }} as status_rank,
        data_object ->> 'capture_method' as capture_method,
        cast(data_object ->> 'amount' as bigint) as amount,
        cast(data_object ->> 'amount_capturable' as bigint) as amount_capturable,
        cast(data_object ->> 'amount_received' as bigint) as amount_received,
        lower(data_object ->> 'currency') as currency,
        data_object -> 'last_payment_error' ->> 'code' as last_payment_error_code,
        data_object -> 'last_payment_error' ->> 'decline_code' as last_payment_error_decline_code,
        data_object ->> 'cancellation_reason' as cancellation_reason,
        to_timestamp(cast(data_object ->> 'canceled_at' as bigint)) as canceled_at,
        data_object -> 'metadata' ->> 'purchase_transaction_id' as purchase_transaction_id,
        data_object -> 'metadata' ->> 'student_id' as student_id,
        object_created_at as payment_intent_created_at

    from events

)

select * from payment_intent_states
