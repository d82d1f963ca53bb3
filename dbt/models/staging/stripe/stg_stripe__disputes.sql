-- The latest state of every dispute, at dispute grain (a charge can be disputed more than once), as
-- ingest/processing.py chose it when the events arrived (docs/decisions.md §9).
-- Incremental: the states processing replaced since the last build (minus the lookback) replace
-- their rows (delete+insert on the key).
{{
    config(
        unique_key='dispute_id',
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

-- Typed fields read in one pass over the object (see stg_stripe__charges).
disputes as (

    select
        source.id as dispute_id,
        dispute.charge as charge_id,
        dispute.payment_intent as payment_intent_id,
        source.livemode,
        dispute.status,
        {{ stripe_is_final_status('dispute.status', 'dispute') }} as is_closed,
        dispute.amount,
        lower(dispute.currency) as currency,
        dispute.reason,
        dispute.is_charge_refundable,
        {{ json_text('dispute.payment_method_details', 'card.case_type') }} as case_type,
        {{ json_text('dispute.payment_method_details', 'card.network_reason_code') }} as network_reason_code,
        to_timestamp(cast({{ json_text('dispute.evidence_details', 'due_by') }} as bigint)) as evidence_due_by,
        cast({{ json_text('dispute.evidence_details', 'has_evidence') }} as boolean) as has_evidence,
        cast({{ json_text('dispute.evidence_details', 'past_due') }} as boolean) as is_past_due,
        cast({{ json_text('dispute.evidence_details', 'submission_count') }} as integer) as evidence_submission_count,
        {{ unix_seconds_to_timestamp('dispute.created') }} as dispute_created_at,
        source.last_event_id as latest_event_id,
        source.last_event_created_at as latest_event_created_at,
        lower(coalesce(
            {{ json_text('dispute.payment_method_details', 'card.network') }},
            {{ json_text('dispute.payment_method_details', 'card.brand') }}
        )) as network,
        -- Inquiries (Visa retrieval requests, pre-disputes) move no money; their statuses start with warning_.
        coalesce(
            {{ json_text('dispute.payment_method_details', 'card.case_type') }} = 'inquiry'
            or dispute.status like 'warning\_%',
            false
        ) as is_inquiry,
        source.updated_at as state_updated_at

    from source
    {{ json_record('source.object', 'dispute', {
        'charge': 'text',
        'payment_intent': 'text',
        'status': 'text',
        'amount': 'bigint',
        'currency': 'text',
        'reason': 'text',
        'is_charge_refundable': 'boolean',
        'payment_method_details': 'jsonb',
        'evidence_details': 'jsonb',
        'created': 'bigint',
    }) }}

)

select * from disputes
