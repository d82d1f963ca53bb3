-- Explainable fraud signals: each rule of the fraud_rule_thresholds seed is checked at every charge
-- (over the customer's charges in the rule's window up to it); a customer fires every rule any of its
-- charges fired. risk_score = sum of the fired rules' weights, capped at 100. Only entities with at
-- least one rule fired get a row.
with

charges as (

    select * from {{ ref('fct_charges') }}
    where customer_id is not null

),

disputes as (

    select * from {{ ref('fct_disputes') }}

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
                and earlier.created_at >= charges.created_at - rules_card_testing.window_minutes * interval '1 minute'
            then earlier.charge_id
        end) as small_failures_in_window,
        count(distinct case
            when earlier.status = 'failed'
                and earlier.created_at >= charges.created_at - rules_velocity.window_minutes * interval '1 minute'
            then earlier.charge_id
        end) as failures_in_window,
        count(distinct case
            when earlier.created_at >= charges.created_at - rules_cards.window_minutes * interval '1 minute'
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
        string_agg(rule_name, ',' order by rule_name) as rules_fired

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
        string_agg(rule_name, ',' order by rule_name) as rules_fired

    from customer_rules
    group by customer_id

)

select entity_type, entity_id, customer_id, cast(risk_score as integer) as risk_score, rules_fired
from charge_signals

union all

select entity_type, entity_id, customer_id, cast(risk_score as integer) as risk_score, rules_fired
from customer_signals
