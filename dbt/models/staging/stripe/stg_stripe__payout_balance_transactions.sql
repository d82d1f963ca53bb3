-- Which balance transactions each ended automatic payout carried (one row per pair).
select
    payout_id,
    balance_transaction_id

from {{ source('stripe_balance', 'payout_balance_transactions') }}
