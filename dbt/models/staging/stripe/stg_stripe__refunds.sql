-- The latest state of every refund, as ingest/processing.py chose it when the events arrived
-- (docs/decisions.md §9). Informational: refunded money is measured from the charge's cumulative
-- amount_refunded (int_stripe__charge_refund_increments), never by adding refunds.
-- Incremental: the states processing replaced since the last build (minus the lookback) replace
-- their rows (delete+insert on the key).
{{
    config(
        unique_key='refund_id',
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

-- Typed fields read in one pass over the object (see stg_stripe__charges).
refunds as (

    select
        source.id as refund_id,
        refund.charge as charge_id,
        refund.payment_intent as payment_intent_id,
        source.livemode,
        refund.status,
        refund.amount,
        lower(refund.currency) as currency,
        refund.reason,
        refund.failure_reason,
        refund.balance_transaction as balance_transaction_id,
        {{ unix_seconds_to_timestamp('refund.created') }} as refund_created_at,
        source.last_event_id as latest_event_id,
        source.last_event_created_at as latest_event_created_at,
        source.updated_at as state_updated_at

    from source
    {{ json_record('source.object', 'refund', {
        'charge': 'text',
        'payment_intent': 'text',
        'status': 'text',
        'amount': 'bigint',
        'currency': 'text',
        'reason': 'text',
        'failure_reason': 'text',
        'balance_transaction': 'text',
        'created': 'bigint',
    }) }}

)

select * from refunds
