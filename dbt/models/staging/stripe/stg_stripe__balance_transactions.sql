-- Every balance transaction once: those listed from Stripe's API, and those disputes embed
-- (balance_transactions[] in dispute events, kept by ingest/processing.py). A transaction known both ways
-- is the same money: the API's listing, the newer view, wins (docs/decisions.md, "Balance transactions").
-- Incremental: a transaction either source wrote since the last build (minus the lookback) is read again from
-- both and replaces its row (delete+insert on the key), so the listing still wins over an embedded copy that
-- arrives later.
{{
    config(
        unique_key='balance_transaction_id',
        indexes=[
            {'columns': ['balance_transaction_id'], 'unique': true},
            {'columns': ['state_updated_at']},
            {'columns': ['source_id']},
        ],
    )
}}

with

{% if is_incremental() -%}
changed_ids as (

    select id from {{ source('stripe_balance', 'api_balance_transactions') }}
    where {{ changed_since_last_build('updated_at', 'state_updated_at') }}

    union

    select id from {{ source('stripe', 'balance_transactions') }}
    where {{ changed_since_last_build('updated_at', 'state_updated_at') }}

),

{% endif -%}
listed as (

    select id, livemode, object, updated_at, 1 as preference from {{ source('stripe_balance', 'api_balance_transactions') }}
    {%- if is_incremental() %}
    where {{ is_one_of('id', 'select id from changed_ids') }}
    {%- endif %}

),

embedded as (

    select id, livemode, object, updated_at, 2 as preference from {{ source('stripe', 'balance_transactions') }}
    {%- if is_incremental() %}
    where {{ is_one_of('id', 'select id from changed_ids') }}
    {%- endif %}

),

both_ways as (

    select * from listed
    union all
    select * from embedded

),

deduplicated as (

    select id, livemode, object, state_updated_at
    from (
        select
            *,
            row_number() over (partition by id order by preference) as preference_rank,
            -- When either source last wrote the transaction: the watermark, which moves even when the copy that
            -- changed is the one that loses.
            max(updated_at) over (partition by id) as state_updated_at
        from both_ways
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
    deduplicated.state_updated_at,
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
