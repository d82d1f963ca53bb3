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

    select distinct on (id) *
    from (
        select * from listed
        union all
        select * from embedded
    ) as both_ways
    order by id, preference

)

select
    deduplicated.id as balance_transaction_id,
    deduplicated.livemode,
    txn.type,
    txn.reporting_category,
    -- `source` is an id, or the object itself when a client asked Stripe to expand it.
    case jsonb_typeof(deduplicated.object -> 'source')
        when 'object' then deduplicated.object -> 'source' ->> 'id'
        else deduplicated.object ->> 'source'
    end as source_id,
    txn.amount,
    txn.fee,
    txn.net,
    lower(txn.currency) as currency,
    txn.exchange_rate,
    txn.description,
    txn.status,
    to_timestamp(txn.created) as balance_transaction_created_at,
    to_timestamp(txn.available_on) as available_on,
    deduplicated.updated_at as state_updated_at,
    -- fee_details[] by Stripe's fee type: stripe_fee, application_fee, tax (on the fees)
    {%- for fee_type, column in [('stripe_fee', 'stripe_fee'), ('application_fee', 'application_fee'), ('tax', 'tax_fee')] %}
    coalesce((
        select sum(cast(detail ->> 'amount' as bigint))
        from jsonb_array_elements(coalesce(deduplicated.object -> 'fee_details', '[]'::jsonb)) as detail
        where detail ->> 'type' = '{{ fee_type }}'
    ), 0) as {{ column }}
    {%- if not loop.last %},{% endif %}
    {%- endfor %}

from deduplicated
cross join lateral jsonb_to_record(deduplicated.object) as txn (
    type text,
    reporting_category text,
    amount bigint,
    fee bigint,
    net bigint,
    currency text,
    exchange_rate numeric,
    description text,
    status text,
    created bigint,
    available_on bigint
)
