-- Which balance transactions each ended automatic payout carried (one row per pair). Incremental: the pairs
-- stored since the last build (minus the lookback) replace their rows (delete+insert on the pair); a pair never
-- changes once stored.
{{
    config(
        unique_key=['payout_id', 'balance_transaction_id'],
        indexes=[
            {'columns': ['payout_id', 'balance_transaction_id'], 'unique': true},
            {'columns': ['balance_transaction_id']},
            {'columns': ['loaded_at']},
        ],
    )
}}

select
    payout_id,
    balance_transaction_id,
    loaded_at

from {{ source('stripe_balance', 'payout_balance_transactions') }}
where {{ changed_since_last_build('loaded_at') }}
