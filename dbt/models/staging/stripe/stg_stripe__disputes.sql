-- The latest state of every dispute, at dispute grain (a charge can be disputed more than once), as
-- ingest/processing.py chose it when the events arrived (docs/decisions.md §9).
-- Incremental: the states processing replaced since the last build (minus the lookback) are merged.
{{
    config(
        materialized='incremental',
        incremental_strategy=payops_incremental_strategy(),
        unique_key='dispute_id',
        on_schema_change='append_new_columns',
        indexes=[
            {'columns': ['dispute_id'], 'unique': true},
            {'columns': ['state_updated_at']},
        ],
    )
}}

with

source as (

    select * from {{ source('stripe', 'disputes') }}
    where {{ changed_since_last_build('updated_at', 'state_updated_at') }}

),

disputes as (

    select
        id as dispute_id,
        object ->> 'charge' as charge_id,
        object ->> 'payment_intent' as payment_intent_id,
        livemode,
        object ->> 'status' as status,
        {{ stripe_is_final_status("object ->> 'status'", 'dispute') }} as is_closed,
        cast(object ->> 'amount' as bigint) as amount,
        lower(object ->> 'currency') as currency,
        object ->> 'reason' as reason,
        cast(object ->> 'is_charge_refundable' as boolean) as is_charge_refundable,
        object -> 'payment_method_details' -> 'card' ->> 'case_type' as case_type,
        object -> 'payment_method_details' -> 'card' ->> 'network_reason_code' as network_reason_code,
        to_timestamp(cast(object -> 'evidence_details' ->> 'due_by' as bigint)) as evidence_due_by,
        cast(object -> 'evidence_details' ->> 'has_evidence' as boolean) as has_evidence,
        cast(object -> 'evidence_details' ->> 'past_due' as boolean) as is_past_due,
        cast(object -> 'evidence_details' ->> 'submission_count' as integer) as evidence_submission_count,
        to_timestamp(cast(object ->> 'created' as bigint)) as dispute_created_at,
        last_event_id as latest_event_id,
        last_event_created_at as latest_event_created_at,
        lower(coalesce(
            object -> 'payment_method_details' -> 'card' ->> 'network',
            object -> 'payment_method_details' -> 'card' ->> 'brand'
        )) as network,
        -- Inquiries (Visa retrieval requests, pre-disputes) move no money; their statuses start with warning_.
        coalesce(
            object -> 'payment_method_details' -> 'card' ->> 'case_type' = 'inquiry'
            or object ->> 'status' like 'warning\_%',
            false
        ) as is_inquiry,
        updated_at as state_updated_at

    from source

)

select * from disputes
