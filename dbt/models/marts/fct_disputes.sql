-- One row per dispute (a charge can be disputed more than once: never sum disputes per charge), in
-- its latest state, with the money its balance transactions moved and how it ended.
with

disputes as (

    select * from {{ ref('stg_stripe__disputes') }}

),

closures as (

    select * from {{ ref('int_stripe__dispute_closures') }}

),

charges as (

    select charge_id, customer_id, payment_intent_id from {{ ref('stg_stripe__charges') }}

),

-- Withdrawn funds are negative balance transactions, reinstated ones positive; each carries its fee. They are in
-- the account's settlement currency, not the dispute's when the charge was in another (balance_currency names it).
balance_transactions as (

    select
        dispute_id,
        min(currency) as balance_currency,
        sum(case when amount < 0 then -amount else 0 end) as withdrawn_minor,
        sum(case when amount > 0 then amount else 0 end) as reinstated_minor,
        sum(fee) as fee_minor

    from {{ ref('stg_stripe__dispute_balance_transactions') }}
    group by dispute_id

),

currencies as (

    select * from {{ ref('currencies') }}

)

select
    disputes.dispute_id,
    disputes.charge_id,
    coalesce(disputes.payment_intent_id, charges.payment_intent_id) as payment_intent_id,
    charges.customer_id,
    disputes.dispute_created_at as created_at,
    disputes.currency,
    cast(disputes.amount as {{ dbt.type_bigint() }}) as amount_minor,
    {{ minor_to_major('disputes.amount', 'currencies.exponent') }} as amount,
    disputes.status,
    disputes.reason,
    disputes.network,
    disputes.is_inquiry,
    disputes.evidence_due_by,
    -- Whole days from this build to the evidence deadline (negative once past due); nothing left to do once closed.
    case
        when not disputes.is_closed
            then cast({{ dbt.datediff(dbt.current_timestamp(), 'disputes.evidence_due_by', 'day') }} as integer)
    end as days_left,
    cast(coalesce(balance_transactions.withdrawn_minor, 0) as {{ dbt.type_bigint() }}) as withdrawn_minor,
    cast(coalesce(balance_transactions.reinstated_minor, 0) as {{ dbt.type_bigint() }}) as reinstated_minor,
    cast(coalesce(balance_transactions.fee_minor, 0) as {{ dbt.type_bigint() }}) as fee_minor,
    balance_transactions.balance_currency,
    -- Stripe waits for the merchant's evidence only in the *needs_response statuses; once under_review the
    -- evidence is in, so a deadline in the past is no longer "past due".
    disputes.status in ('needs_response', 'warning_needs_response') as needs_response,
    coalesce(
        disputes.status in ('needs_response', 'warning_needs_response')
        and disputes.evidence_due_by < {{ dbt.current_timestamp() }},
        false
    ) as evidence_past_due,
    closures.closed_at,
    case when disputes.is_closed then disputes.status else 'open' end as outcome,
    disputes.livemode

from disputes
left join closures
    on disputes.dispute_id = closures.dispute_id
left join charges
    on disputes.charge_id = charges.charge_id
left join balance_transactions
    on disputes.dispute_id = balance_transactions.dispute_id
left join currencies
    on disputes.currency = currencies.currency
