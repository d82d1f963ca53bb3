-- The latest state of every dispute, at dispute grain (a charge can be disputed more than once).
with

dispute_events as (

    select
        *,
        max(received_at) over (partition by dispute_id) as state_updated_at

    from {{ ref('base_stripe__dispute_events') }}

),

latest as (

    {{ latest_state('dispute_events', 'dispute_id', ['status_rank desc']) }}

)

select
    dispute_id,
    charge_id,
    payment_intent_id,
    livemode,
    status,
    is_closed,
    amount,
    currency,
    reason,
    is_charge_refundable,
    case_type,
    network_reason_code,
    evidence_due_by,
    has_evidence,
    is_past_due,
    evidence_submission_count,
    dispute_created_at,
    event_id as latest_event_id,
    event_created_at as latest_event_created_at,
    network,
    is_inquiry,
    state_updated_at

from latest
