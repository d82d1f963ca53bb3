-- The latest state of every charge (one row per charge id, the charge attempt grain), as
-- ingest/processing.py chose it when the events arrived (docs/decisions.md §9).
-- Incremental: the states processing replaced since the last build (minus the lookback) replace
-- their rows (delete+insert on the key).
{{
    config(
        unique_key='charge_id',
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

-- The object is read into typed fields once per row: each `->>` on a compressed jsonb value decompresses the
-- whole object again (30 fields made the build 10x slower than one pass; docs/benchmarks.md).
charges as (

    select
        source.id as charge_id,
        charge.payment_intent as payment_intent_id,
        charge.customer as customer_id,
        source.livemode,
        charge.status,
        charge.captured,
        charge.amount,
        charge.amount_captured,
        charge.amount_refunded,
        lower(charge.currency) as currency,
        charge.disputed,
        charge.failure_code,
        {{ json_text('charge.outcome', 'type') }} as outcome_type,
        {{ json_text('charge.outcome', 'reason') }} as outcome_reason,
        charge.balance_transaction as balance_transaction_id,
        {{ json_text('charge.metadata', 'purchase_transaction_id') }} as purchase_transaction_id,
        {{ json_text('charge.metadata', 'student_id') }} as student_id,
        {{ unix_seconds_to_timestamp('charge.created') }} as charge_created_at,
        source.last_event_id as latest_event_id,
        source.last_event_created_at as latest_event_created_at,
        {{ json_text('charge.outcome', 'risk_level') }} as risk_level,
        cast({{ json_text('charge.outcome', 'risk_score') }} as integer) as risk_score,
        -- Stripe's decline code of an issuer decline is outcome.reason; other outcomes have none.
        case
            when {{ json_text('charge.outcome', 'type') }} = 'issuer_declined'
                then {{ json_text('charge.outcome', 'reason') }}
        end as decline_code,
        charge.payment_method as payment_method_id,
        {{ json_text('charge.payment_method_details', 'type') }} as payment_method_type,
        lower({{ json_text('charge.payment_method_details', 'card.brand') }}) as card_brand,
        upper({{ json_text('charge.payment_method_details', 'card.country') }}) as card_country,
        {{ json_text('charge.payment_method_details', 'card.funding') }} as card_funding,
        {{ json_text('charge.payment_method_details', 'card.fingerprint') }} as card_fingerprint,
        -- When processing last replaced the charge's state: the incremental watermark.
        source.updated_at as state_updated_at

    from source
    {{ json_record('source.object', 'charge', {
        'payment_intent': 'text',
        'customer': 'text',
        'status': 'text',
        'captured': 'boolean',
        'amount': 'bigint',
        'amount_captured': 'bigint',
        'amount_refunded': 'bigint',
        'currency': 'text',
        'disputed': 'boolean',
        'failure_code': 'text',
        'outcome': 'jsonb',
        'balance_transaction': 'text',
        'metadata': 'jsonb',
        'created': 'bigint',
        'payment_method': 'text',
        'payment_method_details': 'jsonb',
    }) }}

)

select * from charges
