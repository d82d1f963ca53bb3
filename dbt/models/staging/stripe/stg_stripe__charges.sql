-- The latest state of every charge (one row per charge id, the charge attempt grain).
with

charge_events as (

    select
        *,
        -- When the warehouse last received anything about the charge: the incremental watermark.
        max(received_at) over (partition by charge_id) as state_updated_at

    from {{ ref('base_stripe__charge_events') }}

),

latest as (

    {{ latest_state('charge_events', 'charge_id', ['status_rank desc', 'captured desc', 'amount_refunded desc']) }}

)

select
    charge_id,
    payment_intent_id,
    customer_id,
    livemode,
    status,
    captured,
    amount,
    amount_captured,
    amount_refunded,
    currency,
    disputed,
    failure_code,
    outcome_type,
    outcome_reason,
    balance_transaction_id,
    purchase_transaction_id,
    student_id,
    charge_created_at,
    event_id as latest_event_id,
    event_created_at as latest_event_created_at,
    risk_level,
    risk_score,
    decline_code,
    payment_method_id,
    payment_method_type,
    card_brand,
    card_country,
    card_funding,
    card_fingerprint,
    state_updated_at

from latest
