-- The latest state of every payment intent (one row per intent; an intent may have several charges),
-- as ingest/processing.py chose it when the events arrived (docs/decisions.md §9).
-- Incremental: the states processing replaced since the last build (minus the lookback) replace
-- their rows (delete+insert on the key).
{{
    config(
        unique_key='payment_intent_id',
        indexes=[
            {'columns': ['payment_intent_id'], 'unique': true},
            {'columns': ['state_updated_at']},
        ],
    )
}}

with

source as (

    select * from {{ source('stripe', 'payment_intents') }}
    where {{ changed_since_last_build('updated_at', 'state_updated_at') }}

),

-- Typed fields read in one pass over the object (see stg_stripe__charges).
payment_intents as (

    select
        source.id as payment_intent_id,
        payment_intent.customer as customer_id,
        payment_intent.latest_charge as latest_charge_id,
        source.livemode,
        payment_intent.status,
        payment_intent.capture_method,
        payment_intent.amount,
        payment_intent.amount_capturable,
        payment_intent.amount_received,
        lower(payment_intent.currency) as currency,
        {{ json_text('payment_intent.last_payment_error', 'code') }} as last_payment_error_code,
        {{ json_text('payment_intent.last_payment_error', 'decline_code') }} as last_payment_error_decline_code,
        payment_intent.cancellation_reason,
        {{ unix_seconds_to_timestamp('payment_intent.canceled_at') }} as canceled_at,
        {{ json_text('payment_intent.metadata', 'purchase_transaction_id') }} as purchase_transaction_id,
        {{ json_text('payment_intent.metadata', 'student_id') }} as student_id,
        {{ unix_seconds_to_timestamp('payment_intent.created') }} as payment_intent_created_at,
        source.last_event_id as latest_event_id,
        source.last_event_created_at as latest_event_created_at,
        source.updated_at as state_updated_at

    from source
    {{ json_record('source.object', 'payment_intent', {
        'customer': 'text',
        'latest_charge': 'text',
        'status': 'text',
        'capture_method': 'text',
        'amount': 'bigint',
        'amount_capturable': 'bigint',
        'amount_received': 'bigint',
        'currency': 'text',
        'last_payment_error': 'jsonb',
        'cancellation_reason': 'text',
        'canceled_at': 'bigint',
        'metadata': 'jsonb',
        'created': 'bigint',
    }) }}

)

select * from payment_intents
