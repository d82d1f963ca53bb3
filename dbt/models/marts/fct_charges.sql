-- One row per charge (payment attempt) in its latest state, with the card, Radar outcome and the
-- platform purchase it pays. Incremental: only charges the warehouse heard about since the last
-- build (minus the lookback) are re-read and merged on charge_id. The created_at index serves the app's search,
-- which pages newest first (read backwards, not sorted). The payment_intent_id and student_id indexes
-- serve fct_payment_intents and student_payment_summary, which recompute all charges of an intent or a student;
-- the student_id index also carries livemode, created_at and charge_id, so the search by part of a name counts
-- (and for a few students orders) their charges from the index alone (reading each of a common name's 30,000+
-- charges took ~900 ms at 1 M);
-- state_updated_at's serves this model's own watermark (without it, each build read every charge twice for it).
-- The amount index serves the search by amount range (its capped count read every charge of the range: 650 ms at
-- 1 M charges, 4 ms with it).
{{
    config(
        materialized=incremental_where_supported(),
        unique_key='charge_id',
        indexes=[
            {'columns': ['charge_id'], 'unique': true},
            {'columns': ['created_day', 'currency', 'livemode']},
            {'columns': ['customer_id', 'created_at']},
            {'columns': ['purchase_transaction_id']},
            {'columns': ['payment_intent_id']},
            {'columns': ['student_id', 'livemode', 'created_at', 'charge_id']},
            {'columns': ['state_updated_at']},
            {'columns': ['created_at']},
            {'columns': ['amount']},
        ],
    )
}}

with

disputes as (

    select * from {{ ref('stg_stripe__disputes') }}

),

{% if is_incremental() -%}
-- A dispute changes no charge event, so a charge is also re-read when one of its disputes changed. A union of
-- two index reads: with the two conditions joined by `or`, the planner read every charge.
changed_charge_ids as (

    select charge_id from {{ ref('stg_stripe__charges') }}
    where {{ changed_since_last_build('state_updated_at') }}

    union

    select charge_id from disputes where {{ changed_since_last_build('disputes.state_updated_at', 'state_updated_at') }}

),

{% endif -%}
charges as (

    select * from {{ ref('stg_stripe__charges') }}
    {%- if is_incremental() %}
    where {{ is_one_of('charge_id', 'select charge_id from changed_charge_ids') }}
    {%- endif %}

),

-- Stripe sends no charge event when a dispute opens, so the charge's own `disputed` flag is usually stale.
disputed_charges as (

    select distinct charge_id from disputes

),

-- Charges without purchase metadata are matched to the app's purchase by payment intent.
purchases_by_payment_intent as (

    select * from {{ ref('int_app__purchases_by_payment_intent') }}
    {%- if is_incremental() %}
    where {{ is_one_of('payment_intent_id', 'select payment_intent_id from charges') }}
    {%- endif %}

),

currencies as (

    select * from {{ ref('currencies') }}

)

select
    charges.charge_id,
    charges.payment_intent_id,
    charges.customer_id,
    coalesce(charges.student_id, purchases_by_payment_intent.student_id) as student_id,
    coalesce(charges.purchase_transaction_id, purchases_by_payment_intent.purchase_transaction_id) as purchase_transaction_id,
    charges.charge_created_at as created_at,
    {{ to_reporting_day('charges.charge_created_at') }} as created_day,
    charges.currency,
    {{ minor_to_major('charges.amount', 'currencies.exponent') }} as amount,
    cast(charges.amount as {{ dbt.type_bigint() }}) as amount_minor,
    cast(coalesce(charges.amount_captured, 0) as {{ dbt.type_bigint() }}) as amount_captured_minor,
    charges.status,
    coalesce(charges.captured, false) as captured,
    charges.failure_code,
    charges.decline_code,
    charges.outcome_type,
    charges.risk_level,
    charges.risk_score,
    charges.card_brand,
    charges.card_country,
    charges.card_fingerprint,
    {{ minor_to_major('coalesce(charges.amount_refunded, 0)', 'currencies.exponent') }} as amount_refunded,
    cast(coalesce(charges.amount_refunded, 0) as {{ dbt.type_bigint() }}) as amount_refunded_minor,
    (coalesce(charges.disputed, false) or disputed_charges.charge_id is not null) as disputed,
    charges.livemode,
    charges.state_updated_at

from charges
left join disputed_charges
    on charges.charge_id = disputed_charges.charge_id
left join purchases_by_payment_intent
    on charges.payment_intent_id = purchases_by_payment_intent.payment_intent_id
left join currencies
    on charges.currency = currencies.currency
