-- One row per event whose object is a dispute (charge.dispute.*): the dispute as that event saw it.
with

events as (

    select * from {{ ref('stg_stripe__events') }}
    where object_type = 'dispute'

),

dispute_states as (

    select
        event_id,
        event_type,
        event_created_at,
        received_at,
        livemode,
        object_id as dispute_id,
        data_object ->> 'charge' as charge_id,
        data_object ->> 'payment_intent' as payment_intent_id,
        data_object ->> 'status' as status,
        {{ stripe_status_rank("data_object ->> 'status'", 'dispute') }} as status_rank,
        {{ stripe_is_final_status("data_object ->> 'status'", 'dispute') }} as is_closed,
        cast(data_object ->> 'amount' as bigint) as amount,
        lower(data_object ->> 'currency') as currency,
        data_object ->> 'reason' as reason,
        cast(data_object ->> 'is_charge_refundable' as boolean) as is_charge_refundable,
        data_object -> 'payment_method_details' -> 'card' ->> 'case_type' as case_type,
        data_object -> 'payment_method_details' -> 'card' ->> 'network_reason_code' as network_reason_code,
        lower(coalesce(
            data_object -> 'payment_method_details' -> 'card' ->> 'network',
            data_object -> 'payment_method_details' -> 'card' ->> 'brand'
        )) as network,
        -- Inquiries (Visa retrieval requests, pre-disputes) move no money; their statuses start with warning_.
        coalesce(
            data_object -> 'payment_method_details' -> 'card' ->> 'case_type' = 'inquiry'
            or data_object ->> 'status' like 'warning\_%',
            false
        ) as is_inquiry,
        to_timestamp(cast(data_object -> 'evidence_details' ->> 'due_by' as bigint)) as evidence_due_by,
        cast(data_object -> 'evidence_details' ->> 'has_evidence' as boolean) as has_evidence,
        cast(data_object -> 'evidence_details' ->> 'past_due' as boolean) as is_past_due,
        cast(data_object -> 'evidence_details' ->> 'submission_count' as integer) as evidence_submission_count,
        object_created_at as dispute_created_at

    from events

)

select * from dispute_states
