-- Every disagreement between the app's purchases and Stripe, one row per (kind, purchase, charge).
-- A purchase is compared with its charge: the app's stripe_charge_id, else its payment intent's
-- latest charge, else the newest charge whose metadata names the purchase. Status mapping and the
-- grace for in-flight purchases: docs/decisions.md.
-- Incremental per purchase and per charge: the pre-hook (macros/reconciliation.sql) lists the purchases and
-- charges whose comparison may have changed since the last build, deletes their rows, and only they are
-- compared again here. Each row keeps when it was checked and the newest event it was checked against: the
-- watermarks of the next build.
-- depends_on: {{ ref('stg_stripe__charges') }} (read by the pre-hook only)
{{
    config(
        materialized=incremental_where_supported(),
        pre_hook="{{ reconciliation_replace_changed() }}",
        indexes=[
            {'columns': ['purchase_transaction_id']},
            {'columns': ['charge_id']},
        ],
    )
}}

with

{% if is_incremental() -%}
-- Filled by the pre-hook (reconciliation_replace_changed), which deleted their rows.
affected_purchases as (

    select purchase_transaction_id from {{ reconciliation_affected_purchases_table() }}

),

affected_charges as (

    select charge_id from {{ reconciliation_affected_charges_table() }}

),

{% endif -%}
-- Not materialized, though read twice: a copy of every purchase or charge would spill to disk, and the
-- fallback below finds its few charges by index.
purchases {{ cte_not_materialized() }} (

    select
        purchase_transaction_id,
        payment_status,
        amount,
        currency,
        stripe_payment_intent_id,
        stripe_charge_id,
        livemode,
        created_at

    from {{ ref('stg_app__purchase_transactions') }}
    {%- if is_incremental() %}
    where {{ is_one_of('purchase_transaction_id', 'select purchase_transaction_id from affected_purchases') }}
    {%- endif %}

),

charges {{ cte_not_materialized() }} (

    select
        charge_id,
        payment_intent_id,
        purchase_transaction_id,
        status,
        captured,
        amount,
        amount_minor,
        amount_captured_minor,
        amount_refunded_minor,
        currency,
        created_at,
        livemode

    from {{ ref('fct_charges') }}

),

payment_intents as (

    select payment_intent_id, status, latest_charge_id from {{ ref('stg_stripe__payment_intents') }}

),

currencies as (

    select * from {{ ref('currencies') }}

),

-- "Recent" is measured against the newest Stripe event, so the result depends on the data, not the clock.
data_now as (

    select max(event_created_at) as newest_event_at from {{ ref('stg_stripe__events') }}

),

purchases_with_intents as (

    select
        purchases.*,
        payment_intents.status as payment_intent_status,
        payment_intents.payment_intent_id as stripe_payment_intent_found,
        coalesce(purchases.stripe_charge_id, payment_intents.latest_charge_id) as named_charge_id

    from purchases
    left join payment_intents
        on purchases.stripe_payment_intent_id = payment_intents.payment_intent_id

),

-- Only a purchase naming no charge (neither itself nor through its intent) falls back on the newest charge
-- whose metadata names it.
newest_charge_by_purchase as (

    select purchase_transaction_id, charge_id
    from (
        select
            purchase_transaction_id,
            charge_id,
            row_number() over (partition by purchase_transaction_id order by created_at desc, charge_id desc) as recency_rank
        from charges
        where purchase_transaction_id in (
            select purchase_transaction_id from purchases_with_intents where named_charge_id is null
        )
    ) as ranked
    where recency_rank = 1

),

matched as (

    select
        purchases_with_intents.*,
        charges.charge_id as matched_charge_id,
        charges.status as charge_status,
        charges.captured,
        charges.amount_minor as charge_amount_minor,
        charges.amount_captured_minor,
        charges.amount_refunded_minor,
        charges.currency as charge_currency,
        charges.created_at as charge_created_at

    from purchases_with_intents
    left join newest_charge_by_purchase
        on purchases_with_intents.purchase_transaction_id = newest_charge_by_purchase.purchase_transaction_id
    left join charges
        on charges.charge_id = coalesce(purchases_with_intents.named_charge_id, newest_charge_by_purchase.charge_id)

),

-- What the app's payment_status should be, read from Stripe.
compared as (

    select
        matched.*,
        case
            when charge_status = 'succeeded' and captured and amount_captured_minor > 0
                and amount_refunded_minor >= amount_captured_minor then 'refunded'
            when charge_status = 'succeeded' and captured then 'completed'
            when charge_status = 'failed' and payment_intent_status = 'canceled' then 'cancelled'
            when charge_status = 'failed' then 'failed'
            when payment_intent_status = 'canceled' then 'cancelled'
            when charge_status = 'succeeded' then 'processing'
            else 'pending'
        end as expected_app_status,
        case
            when matched_charge_id is null then 'payment_intent ' || coalesce(payment_intent_status, 'missing')
            else concat_ws(' ',
                charge_status,
                case when captured then 'captured' else 'uncaptured' end,
                case
                    when amount_refunded_minor >= amount_captured_minor and amount_captured_minor > 0 then 'fully refunded'
                    when amount_refunded_minor > 0 and captured then 'partially refunded'
                end)
        end as stripe_status_label,
        matched.created_at >= {{ dbt.dateadd('hour', -1 * var('reconciliation_pending_grace_hours'), '(select newest_event_at from data_now)') }} as is_recent,
        -- In numeric: a float product misses (0.29 x 100 is 28.999999999999996).
        matched.amount * power(cast(10 as {{ dbt.type_numeric() }}), currencies.exponent) as amount_in_minor

    from matched
    left join currencies
        on matched.currency = currencies.currency

),

-- Nearly every purchase agrees with Stripe: only the rows some exception below can come from are kept, so the
-- branches read a few rows instead of every purchase.
disagreeing as (

    select * from compared
    where matched_charge_id is null
        or payment_status <> expected_app_status
        or currency <> charge_currency
        or amount_in_minor <> charge_amount_minor

),

exceptions as (

    -- The app recorded a payment Stripe does not have.
    select
        'missing_in_stripe' as kind,
        purchase_transaction_id,
        stripe_charge_id as charge_id,
        stripe_payment_intent_id as payment_intent_id,
        payment_status as app_value,
        cast(null as {{ engine_type('text') }}) as stripe_value,
        created_at as first_seen_at,
        livemode,
        currency,
        amount_in_minor as amount_at_stake_minor

    from disagreeing
    where matched_charge_id is null
        and (
            (stripe_payment_intent_id is not null and stripe_payment_intent_found is null)
            or (stripe_charge_id is not null)
            or (stripe_payment_intent_id is null and payment_status in ('completed', 'refunded', 'failed'))
        )

    union all

    select
        'status_mismatch',
        purchase_transaction_id,
        matched_charge_id,
        stripe_payment_intent_id,
        payment_status,
        stripe_status_label,
        greatest(created_at, charge_created_at),
        livemode,
        coalesce(charge_currency, currency),
        coalesce(charge_amount_minor, amount_in_minor)

    from disagreeing
    where (matched_charge_id is not null or stripe_payment_intent_found is not null)
        and payment_status <> expected_app_status
        -- In flight on either side, and recent: not (yet) an exception.
        and not (
            is_recent
            and (payment_status in ('pending', 'processing') or expected_app_status in ('pending', 'processing'))
        )

    union all

    select
        'currency_mismatch',
        purchase_transaction_id,
        matched_charge_id,
        stripe_payment_intent_id,
        currency,
        charge_currency,
        greatest(created_at, charge_created_at),
        livemode,
        charge_currency,
        charge_amount_minor

    from disagreeing
    where matched_charge_id is not null and currency <> charge_currency

    union all

    -- The app's amount is in major units: amount x 10^exponent must be the charge's amount_minor.
    select
        'amount_mismatch',
        disagreeing.purchase_transaction_id,
        disagreeing.matched_charge_id,
        disagreeing.stripe_payment_intent_id,
        cast(disagreeing.amount as {{ engine_type('text') }}),
        cast({{ minor_to_major('disagreeing.charge_amount_minor', 'currencies.exponent') }} as {{ engine_type('text') }}),
        greatest(disagreeing.created_at, disagreeing.charge_created_at),
        disagreeing.livemode,
        disagreeing.charge_currency,
        abs(disagreeing.amount_in_minor - disagreeing.charge_amount_minor)

    from disagreeing
    inner join currencies
        on disagreeing.currency = currencies.currency
    where disagreeing.matched_charge_id is not null
        and disagreeing.currency = disagreeing.charge_currency
        and disagreeing.amount_in_minor <> disagreeing.charge_amount_minor

    union all

    -- Stripe charged for something the app has no purchase of (any purchase: not only the compared ones).
    select
        'missing_in_app',
        charges.purchase_transaction_id,
        charges.charge_id,
        charges.payment_intent_id,
        cast(null as {{ engine_type('text') }}),
        concat_ws(' ', charges.status, charges.currency, cast(charges.amount as {{ engine_type('text') }})),
        charges.created_at,
        charges.livemode,
        charges.currency,
        charges.amount_minor

    from charges
    left join {{ ref('stg_app__purchase_transactions') }} as app_purchases
        on charges.purchase_transaction_id = app_purchases.purchase_transaction_id
    where app_purchases.purchase_transaction_id is null
    {%- if is_incremental() %}
        and {{ is_one_of('charges.charge_id', 'select charge_id from affected_charges') }}
    {%- endif %}

)

-- What is at stake, in one currency: the difference for an amount mismatch, else the whole payment (the
-- charge's amount, or the app's when Stripe has no charge).
select
    exceptions.kind,
    exceptions.purchase_transaction_id,
    exceptions.charge_id,
    exceptions.payment_intent_id,
    exceptions.app_value,
    exceptions.stripe_value,
    exceptions.first_seen_at,
    exceptions.livemode,
    {{ dbt.current_timestamp() }} as checked_at,
    (select newest_event_at from data_now) as checked_against_event_at,
    exceptions.currency,
    {{ money_columns('exceptions.amount_at_stake_minor', 'amount_at_stake') }}

from exceptions
left join currencies
    on exceptions.currency = currencies.currency
