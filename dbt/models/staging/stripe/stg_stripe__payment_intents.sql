-- The latest state of every payment intent (one row per intent; an intent may have several charges).
with

payment_intent_events as (

    select
        *,
        max(received_at) over (partition by payment_intent_id) as state_updated_at

    from {{ ref('base_stripe__payment_intent_events') }}

),

latest as (

    {{ latest_state('payment_intent_events', 'payment_intent_id', ['status_rank desc']) }}

)

select
    payment_intent_id,
    customer_id,
    latest_charge_id,
    livemode,
    status,
    capture_method,
    amount,
    amount_capturable,
    amount_received,
    currency,
    last_payment_error_code,
    last_payment_error_decline_code,
    cancellation_reason,
    canceled_at,
    purchase_transaction_id,
    student_id,
    payment_intent_created_at,
    event_id as latest_event_id,
    event_created_at as latest_event_created_at,
    state_updated_at

from latest
