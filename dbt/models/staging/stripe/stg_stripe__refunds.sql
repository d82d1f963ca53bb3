-- The latest state of every refund. Informational: refunded money is measured from the charge's
-- cumulative amount_refunded (int_stripe__charge_refund_increments), never by adding refunds.
with

refund_events as (

    select
        *,
        max(received_at) over (partition by refund_id) as state_updated_at

    from {{ ref('base_stripe__refund_events') }}

),

latest as (

    {{ latest_state('refund_events', 'refund_id', ['status_rank desc']) }}

)

select
    refund_id,
    charge_id,
    payment_intent_id,
    livemode,
    status,
    amount,
    currency,
    reason,
    failure_reason,
    balance_transaction_id,
    refund_created_at,
    event_id as latest_event_id,
    event_created_at as latest_event_created_at,
    state_updated_at

from latest
