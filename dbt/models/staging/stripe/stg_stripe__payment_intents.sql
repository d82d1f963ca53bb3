-- The latest state of every payment intent (one row per intent; an intent may have several charges),
-- as ingest/processing.py chose it when the events arrived (docs/decisions.md §9).
-- Incremental: the states processing replaced since the last build (minus the lookback) are merged.
{{
    config(
        materialized='incremental',
        incremental_strategy=payops_incremental_strategy(),
        unique_key='payment_intent_id',
        on_schema_change='append_new_columns',
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

payment_intents as (

    select
        id as payment_intent_id,
        object ->> 'customer' as customer_id,
        object ->> 'latest_charge' as latest_charge_id,
        livemode,
        object ->> 'status' as status,
        object ->> 'capture_method' as capture_method,
        cast(object ->> 'amount' as bigint) as amount,
        cast(object ->> 'amount_capturable' as bigint) as amount_capturable,
        cast(object ->> 'amount_received' as bigint) as amount_received,
        lower(object ->> 'currency') as currency,
        object -> 'last_payment_error' ->> 'code' as last_payment_error_code,
        object -> 'last_payment_error' ->> 'decline_code' as last_payment_error_decline_code,
        object ->> 'cancellation_reason' as cancellation_reason,
        to_timestamp(cast(object ->> 'canceled_at' as bigint)) as canceled_at,
        object -> 'metadata' ->> 'purchase_transaction_id' as purchase_transaction_id,
        object -> 'metadata' ->> 'student_id' as student_id,
        to_timestamp(cast(object ->> 'created' as bigint)) as payment_intent_created_at,
        last_event_id as latest_event_id,
        last_event_created_at as latest_event_created_at,
        updated_at as state_updated_at

    from source

)

select * from payment_intents
