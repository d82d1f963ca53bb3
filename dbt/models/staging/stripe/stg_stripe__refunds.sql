-- The latest state of every refund, as ingest/processing.py chose it when the events arrived
-- (docs/decisions.md §9). Informational: refunded money is measured from the charge's cumulative
-- amount_refunded (int_stripe__charge_refund_increments), never by adding refunds.
-- Incremental: the states processing replaced since the last build (minus the lookback) are merged.
{{
    config(
        materialized='incremental',
        incremental_strategy=payops_incremental_strategy(),
        unique_key='refund_id',
        on_schema_change='append_new_columns',
        indexes=[
            {'columns': ['refund_id'], 'unique': true},
            {'columns': ['state_updated_at']},
        ],
    )
}}

with

source as (

    select * from {{ source('stripe', 'refunds') }}
    where {{ changed_since_last_build('updated_at', 'state_updated_at') }}

),

refunds as (

    select
        id as refund_id,
        object ->> 'charge' as charge_id,
        object ->> 'payment_intent' as payment_intent_id,
        livemode,
        object ->> 'status' as status,
        cast(object ->> 'amount' as bigint) as amount,
        lower(object ->> 'currency') as currency,
        object ->> 'reason' as reason,
        object ->> 'failure_reason' as failure_reason,
        object ->> 'balance_transaction' as balance_transaction_id,
        to_timestamp(cast(object ->> 'created' as bigint)) as refund_created_at,
        last_event_id as latest_event_id,
        last_event_created_at as latest_event_created_at,
        updated_at as state_updated_at

    from source

)

select * from refunds
