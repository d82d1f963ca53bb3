-- Which balance transactions each ended automatic payout carried (one row per pair). Rebuilt whole on every
-- build (not the staging layer's incremental default): it reads every row of its source.
{{ config(materialized='table', indexes=[{'columns': ['payout_id', 'balance_transaction_id'], 'unique': true}]) }}

select
    payout_id,
    balance_transaction_id

from {{ source('stripe_balance', 'payout_balance_transactions') }}
