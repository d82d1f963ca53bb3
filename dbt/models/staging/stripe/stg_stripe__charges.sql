-- The latest state of every charge (one row per charge id, the charge attempt grain), as
-- ingest/processing.py chose it when the events arrived (docs/decisions.md §9).
-- Incremental: the states processing replaced since the last build (minus the lookback) are merged.
{{
    config(
        materialized='incremental',
        incremental_strategy=payops_incremental_strategy(),
        unique_key='charge_id',
        on_schema_change='append_new_columns',
        indexes=[
            {'columns': ['charge_id'], 'unique': true},
            {'columns': ['state_updated_at']},
        ],
    )
}}

with

source as (

    select * from {{ source('stripe', 'charges') }}
    where {{ changed_since_last_build('updated_at', 'state_updated_at') }}

),

charges as (

    select
        id as charge_id,
        object ->> 'payment_intent' as payment_intent_id,
        object ->> 'customer' as customer_id,
        livemode,
        object ->> 'status' as status,
        cast(object ->> 'captured' as boolean) as captured,
        cast(object ->> 'amount' as bigint) as amount,
        cast(object ->> 'amount_captured' as bigint) as amount_captured,
        cast(object ->> 'amount_refunded' as bigint) as amount_refunded,
        lower(object ->> 'currency') as currency,
        cast(object ->> 'disputed' as boolean) as disputed,
        object ->> 'failure_code' as failure_code,
        object -> 'outcome' ->> 'type' as outcome_type,
        object -> 'outcome' ->> 'reason' as outcome_reason,
        object ->> 'balance_transaction' as balance_transaction_id,
        object -> 'metadata' ->> 'purchase_transaction_id' as purchase_transaction_id,
        object -> 'metadata' ->> 'student_id' as student_id,
        to_timestamp(cast(object ->> 'created' as bigint)) as charge_created_at,
        last_event_id as latest_event_id,
        last_event_created_at as latest_event_created_at,
        object -> 'outcome' ->> 'risk_level' as risk_level,
        cast(object -> 'outcome' ->> 'risk_score' as integer) as risk_score,
        -- Stripe's decline code of an issuer decline is outcome.reason; other outcomes have none.
        case
            when object -> 'outcome' ->> 'type' = 'issuer_declined'
                then object -> 'outcome' ->> 'reason'
        end as decline_code,
        object ->> 'payment_method' as payment_method_id,
        object -> 'payment_method_details' ->> 'type' as payment_method_type,
        lower(object -> 'payment_method_details' -> 'card' ->> 'brand') as card_brand,
        upper(object -> 'payment_method_details' -> 'card' ->> 'country') as card_country,
        object -> 'payment_method_details' -> 'card' ->> 'funding' as card_funding,
        object -> 'payment_method_details' -> 'card' ->> 'fingerprint' as card_fingerprint,
        -- When processing last replaced the charge's state: the incremental watermark.
        updated_at as state_updated_at

    from source

)

select * from charges
