-- Every balance transaction once: those listed from Stripe's API, and those disputes embed
-- (balance_transactions[] in dispute events, kept by ingest/processing.py). A transaction known both ways
-- is the same money: the API's listing, the newer view, wins (docs/decisions.md, "Balance transactions").
-- Rebuilt whole on every build (not the staging layer's incremental default): it reads every row of its sources.
{{ config(materialized='table', indexes=[{'columns': ['balance_transaction_id'], 'unique': true}]) }}

with

listed as (

    select id, livemode, object, updated_at, 1 as preference from {{ source('stripe_balance', 'api_balance_transactions') }}

),

embedded as (

    select id, livemode, object, updated_at, 2 as preference from {{ source('stripe', 'balance_transactions') }}

),

deduplicated as (

    select id, livemode, object, updated_at
    from (
        select
            *,
            row_number() over (partition by id order by preference) as preference_rank
        from (
            select * from listed
            union all
            select * from embedded
        ) as both_ways
    ) as ranked
    where preference_rank = 1

)

select
    deduplicated.id as balance_transaction_id,
    deduplicated.livemode,
    txn.type,
    txn.reporting_category,
    -- `source` is an id, or the object itself when a client asked Stripe to expand it.
    {{ stripe_expandable_id('deduplicated.object', 'source') }} as source_id,
    txn.amount,
    txn.fee,
    txn.net,
    lower(txn.currency) as currency,
    txn.exchange_rate,
    txn.description,
    txn.status,
    {{ unix_seconds_to_timestamp('txn.created') }} as balance_transaction_created_at,
    {{ unix_seconds_to_timestamp('txn.available_on') }} as available_on,
    deduplicated.updated_at as state_updated_at,
    -- fee_details[] by Stripe's fee type: stripe_fee, application_fee, tax (on the fees)
    {%- for fee_type, column in [('stripe_fee', 'stripe_fee'), ('application_fee', 'application_fee'), ('tax', 'tax_fee')] %}
    {{ json_array_sum_of_type('deduplicated.object', 'fee_details', fee_type) }} as {{ column }}
    {%- if not loop.last %},{% endif %}
    {%- endfor %}

from deduplicated
{{ json_record('deduplicated.object', 'txn', {
    'type': 'text',
    'reporting_category': 'text',
    'amount': 'bigint',
    'fee': 'bigint',
    'net': 'bigint',
    'currency': 'text',
    'exchange_rate': 'numeric',
    'description': 'text',
    'status': 'text',
    'created': 'bigint',
    'available_on': 'bigint',
}) }}
