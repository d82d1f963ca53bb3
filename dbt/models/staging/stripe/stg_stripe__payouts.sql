-- The latest state of every payout, as ingest/processing.py chose it from payout.* events.
-- Rebuilt whole on every build (not the staging layer's incremental default): it reads every row of its sources.
{{ config(materialized='table', indexes=[{'columns': ['payout_id'], 'unique': true}]) }}

with

source as (

    select * from {{ source('stripe_balance', 'payouts') }}

)

select
    source.id as payout_id,
    source.livemode,
    payout.status,
    payout.amount,
    lower(payout.currency) as currency,
    {{ unix_seconds_to_timestamp('payout.created') }} as payout_created_at,
    {{ unix_seconds_to_timestamp('payout.arrival_date') }} as arrival_date,
    payout.method,
    payout.automatic,
    payout.failure_code,
    payout.failure_message,
    payout.reconciliation_status,
    payout.balance_transaction as balance_transaction_id,
    payout.failure_balance_transaction as failure_balance_transaction_id,
    source.updated_at as state_updated_at

from source
{{ json_record('source.object', 'payout', {
        'status': 'text',
        'amount': 'bigint',
        'currency': 'text',
        'created': 'bigint',
        'arrival_date': 'bigint',
        'method': 'text',
        'automatic': 'boolean',
        'failure_code': 'text',
        'failure_message': 'text',
        'reconciliation_status': 'text',
        'balance_transaction': 'text',
        'failure_balance_transaction': 'text',
    }) }}
