-- One row per payment intent: its final status and the attempts (charges) it took. An intent whose
-- failed attempt was followed by a successful one is a recovered payment.
-- Incremental: an intent whose own state or any of whose charges changed since the last build (minus the
-- lookback) is recomputed whole from all its charges and merged on payment_intent_id. The app's purchase
-- (the last fallback for student and purchase) is read as it stands when that happens, as fct_charges does.
{{
    config(
        materialized=incremental_where_supported(),
        unique_key='payment_intent_id',
        indexes=[
            {'columns': ['payment_intent_id'], 'unique': true},
            {'columns': ['state_updated_at']},
        ],
    )
}}

-- depends_on: {{ ref('stg_stripe__charges') }}

with

{% if is_incremental() %}
-- Charges are found changed in stg_stripe__charges, whose index on state_updated_at fct_charges lacks; both
-- hold the same state_updated_at for every charge.
changed_payment_intents as (

    select payment_intent_id from {{ ref('stg_stripe__payment_intents') }}
    where {{ changed_since_last_build('state_updated_at') }}

    union

    select payment_intent_id from {{ ref('stg_stripe__charges') }}
    where {{ changed_since_last_build('state_updated_at') }}
        and payment_intent_id is not null

),
{% endif %}

payment_intents as (

    select * from {{ ref('stg_stripe__payment_intents') }}
    {%- if is_incremental() %}
    where payment_intent_id in (select payment_intent_id from changed_payment_intents)
    {%- endif %}

),

charges as (

    select * from {{ ref('fct_charges') }}
    {%- if is_incremental() %}
    where payment_intent_id in (select payment_intent_id from changed_payment_intents)
    {%- endif %}

),

attempts as (

    select
        payment_intent_id,
        count(*) as charge_attempts,
        sum(case when status = 'failed' then 1 else 0 end) as failed_attempts,
        min(created_at) as first_attempt_at,
        min(case when status = 'succeeded' then created_at end) as succeeded_at,
        min(purchase_transaction_id) as purchase_transaction_id,
        min(student_id) as student_id,
        max(state_updated_at) as charges_updated_at

    from charges
    where payment_intent_id is not null
    group by payment_intent_id

),

purchases_by_payment_intent as (

    select * from {{ ref('int_app__purchases_by_payment_intent') }}
    {%- if is_incremental() %}
    where {{ is_one_of('payment_intent_id', 'select payment_intent_id from changed_payment_intents') }}
    {%- endif %}

),

currencies as (

    select * from {{ ref('currencies') }}

)

select
    payment_intents.payment_intent_id,
    payment_intents.customer_id,
    coalesce(payment_intents.student_id, attempts.student_id, purchases_by_payment_intent.student_id) as student_id,
    coalesce(
        payment_intents.purchase_transaction_id,
        attempts.purchase_transaction_id,
        purchases_by_payment_intent.purchase_transaction_id
    ) as purchase_transaction_id,
    payment_intents.payment_intent_created_at as created_at,
    payment_intents.currency,
    cast(payment_intents.amount as {{ dbt.type_bigint() }}) as amount_minor,
    {{ minor_to_major('payment_intents.amount', 'currencies.exponent') }} as amount,
    payment_intents.status as final_status,
    cast(coalesce(attempts.charge_attempts, 0) as {{ dbt.type_bigint() }}) as charge_attempts,
    cast(coalesce(attempts.failed_attempts, 0) as {{ dbt.type_bigint() }}) as failed_attempts,
    -- A payment intent stops taking attempts once one succeeds, so any failure came before the success.
    coalesce(attempts.failed_attempts > 0 and attempts.succeeded_at is not null, false) as recovered,
    attempts.first_attempt_at,
    attempts.succeeded_at,
    cast({{ dbt.datediff('attempts.first_attempt_at', 'attempts.succeeded_at', 'second') }} as {{ dbt.type_bigint() }}) as seconds_to_success,
    payment_intents.livemode,
    -- greatest() skips nulls: an intent without charges keeps its own time.
    greatest(payment_intents.state_updated_at, attempts.charges_updated_at) as state_updated_at

from payment_intents
left join attempts
    on payment_intents.payment_intent_id = attempts.payment_intent_id
left join purchases_by_payment_intent
    on payment_intents.payment_intent_id = purchases_by_payment_intent.payment_intent_id
left join currencies
    on payment_intents.currency = currencies.currency
