-- Dispute balance transactions (funds withdrawn, funds reinstated, with the dispute fee), one row per
-- txn id. Disputes embed them, and ingest/processing.py keeps each txn's latest state in
-- raw.stripe_balance_transactions; a dispute's txn names the dispute as its `source`.
-- Unlike the rest of staging, a table rebuilt whole on every build: dispute transactions are few.
{{ config(materialized='table') }}

with

source as (

    select * from {{ source('stripe', 'balance_transactions') }}

),

disputes as (

    select id as dispute_id from {{ source('stripe', 'disputes') }}

),

balance_transactions as (

    select
        id as balance_transaction_id,
        -- `source` is an id, or the object itself when a client asked Stripe to expand it.
        {{ stripe_expandable_id('object', 'source') }} as source_id,
        livemode,
        {{ json_text('object', 'reporting_category') }} as reporting_category,
        cast({{ json_text('object', 'amount') }} as bigint) as amount,
        cast({{ json_text('object', 'fee') }} as bigint) as fee,
        cast({{ json_text('object', 'net') }} as bigint) as net,
        lower({{ json_text('object', 'currency') }}) as currency,
        {{ unix_seconds_to_timestamp('cast(' ~ json_text('object', 'created') ~ ' as bigint)') }} as balance_transaction_created_at

    from source

)

select
    balance_transactions.balance_transaction_id,
    disputes.dispute_id,
    balance_transactions.livemode,
    balance_transactions.reporting_category,
    balance_transactions.amount,
    balance_transactions.fee,
    balance_transactions.net,
    balance_transactions.currency,
    balance_transactions.balance_transaction_created_at

from balance_transactions
inner join disputes
    on balance_transactions.source_id = disputes.dispute_id
