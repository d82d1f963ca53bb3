-- Explainable fraud signals: each rule of the fraud_rule_thresholds seed is checked at every charge
-- (over the customer's charges in the rule's window up to it); a customer fires every rule any of its
-- charges fired. risk_score = sum of the fired rules' weights, capped at 100. Only entities with at
-- least one rule fired get a row.
-- Incremental per customer, since a customer's rows depend on all its charges and disputes: the customers
-- with a charge or dispute received since the last build (minus the lookback; macros/fraud_signals.sql) are
-- recomputed whole from all their charges and disputes. The pre-hook lists them once and deletes all their
-- rows (also those of a customer whose rules no longer fire), then their new rows are appended.
-- source_updated_at (the customer's newest charge or dispute state) is that watermark. A change of the
-- fraud_rule_thresholds seed needs a full refresh.
{{
    config(
        materialized=incremental_where_supported(),
        pre_hook="{{ fraud_signals_replace_changed_customers() }}",
        indexes=[
            {'columns': ['entity_type', 'entity_id'], 'unique': true},
            {'columns': ['customer_id']},
        ],
    )
}}

with

{% if is_incremental() %}
-- Filled by the pre-hook (fraud_signals_replace_changed_customers), which deleted their rows.
affected_customers as (

    select customer_id from {{ fraud_signals_affected_customers_table() }}

),
{% endif %}

charges as (

    select * from {{ ref('fct_charges') }}
    where customer_id is not null
    {%- if is_incremental() %}
        and customer_id in (select customer_id from affected_customers)
    {%- endif %}

),

disputes as (

    select * from {{ ref('fct_disputes') }}
    {%- if is_incremental() %}
    where customer_id in (select customer_id from affected_customers)
    {%- endif %}

),

-- Bookkeeping: when the warehouse last received a state of any of the customer's charges or disputes.
customer_source_updates as (

    select customer_id, max(state_updated_at) as source_updated_at
    from (
        select customer_id, state_updated_at from charges

        union all

        select disputes.customer_id, dispute_states.state_updated_at
        from disputes
        inner join {{ ref('stg_stripe__disputes') }} as dispute_states
            on disputes.dispute_id = dispute_states.dispute_id
        where disputes.customer_id is not null
    ) as source_updates
    group by customer_id

),

rules as (

    select * from {{ ref('fraud_rule_thresholds') }}

),


-- Each charge with the customer's earlier charges (itself included) inside the widest window needed.
window_counts as (

    select
        charges.charge_id,
        count(distinct case
            when earlier.status = 'failed'
                and earlier.amount <= rules_card_testing.amount_cap_major
                and earlier.created_at >= {{ timestamp_minus('charges.created_at', 'rules_card_testing.window_minutes', 'minute') }}
            then earlier.charge_id
        end) as small_failures_in_window,
        count(distinct case
            when earlier.status = 'failed'
                and earlier.created_at >= {{ timestamp_minus('charges.created_at', 'rules_velocity.window_minutes', 'minute') }}
            then earlier.charge_id
        end) as failures_in_window,
        count(distinct case
            when earlier.created_at >= {{ timestamp_minus('charges.created_at', 'rules_cards.window_minutes', 'minute') }}
            then earlier.card_fingerprint
        end) as fingerprints_in_window

    from charges
    cross join (select * from rules where rule_name = 'card_testing') as rules_card_testing
    cross join (select * from rules where rule_name = 'failure_velocity') as rules_velocity
    cross join (select * from rules where rule_name = 'many_cards') as rules_cards
    inner join charges as earlier
        on earlier.customer_id = charges.customer_id
        and earlier.livemode = charges.livemode
        and earlier.created_at <= charges.created_at
    group by charges.charge_id

),

-- The median of the customer's earlier succeeded charges in the same currency and mode.
customer_history as (

    select
        charges.charge_id,
        percentile_cont(0.5) within group (order by earlier.amount_minor) as earlier_median_minor

    from charges
    inner join charges as earlier
        on earlier.customer_id = charges.customer_id
        and earlier.currency = charges.currency
        and earlier.livemode = charges.livemode
        and earlier.created_at < charges.created_at
        and earlier.status = 'succeeded'
    group by charges.charge_id

),

earlier_disputes as (

    select charges.charge_id, count(*) as disputes_before

    from charges
    inner join disputes
        on disputes.customer_id = charges.customer_id
        and disputes.livemode = charges.livemode
        and disputes.created_at < charges.created_at
    group by charges.charge_id

),

fired as (

    select charges.charge_id, charges.customer_id, rules.rule_name, rules.weight

    from charges
    left join window_counts on charges.charge_id = window_counts.charge_id
    left join customer_history on charges.charge_id = customer_history.charge_id
    left join earlier_disputes on charges.charge_id = earlier_disputes.charge_id
    inner join rules
        on case rules.rule_name
            when 'card_testing' then window_counts.small_failures_in_window >= rules.threshold
            when 'failure_velocity' then window_counts.failures_in_window >= rules.threshold
            when 'many_cards' then window_counts.fingerprints_in_window >= rules.threshold
            when 'amount_outlier' then charges.amount_minor > rules.threshold * customer_history.earlier_median_minor
            when 'radar_risk' then charges.risk_level in ('elevated', 'highest')
            when 'prior_disputes' then coalesce(earlier_disputes.disputes_before, 0) >= rules.threshold
            else false
        end

),

charge_signals as (

    select
        'charge' as entity_type,
        charge_id as entity_id,
        customer_id,
        least(sum(weight), 100) as risk_score,
        {{ string_agg_sorted('rule_name', ',') }} as rules_fired

    from fired
    group by charge_id, customer_id

),

customer_rules as (

    select distinct customer_id, rule_name, weight
    from fired

),

customer_signals as (

    select
        'customer' as entity_type,
        customer_id as entity_id,
        customer_id,
        least(sum(weight), 100) as risk_score,
        {{ string_agg_sorted('rule_name', ',') }} as rules_fired

    from customer_rules
    group by customer_id

)

select
    signals.entity_type,
    signals.entity_id,
    signals.customer_id,
    cast(signals.risk_score as integer) as risk_score,
    signals.rules_fired,
    customer_source_updates.source_updated_at

from (
    select entity_type, entity_id, customer_id, risk_score, rules_fired
    from charge_signals

    union all

    select entity_type, entity_id, customer_id, risk_score, rules_fired
    from customer_signals
) as signals
inner join customer_source_updates
    on signals.customer_id = customer_source_updates.customer_id
