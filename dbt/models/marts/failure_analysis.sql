-- Failed attempts per day, currency and mode, broken down by failure code, decline code, card brand
-- and card country: each value's share of the day's failures against its share over the 7 days
-- before, flagged as a spike when it jumps. Only values with failures on the day get a row.
-- A table, rebuilt whole: tracking the days a changed failure reaches (and the 7 after it) saved 1.1-3.0 s of a
-- 38-45 s incremental refresh at 1 M charges, under the 5 % for which an incremental mechanism is kept
-- (docs/decisions.md §17).
{{ config(materialized='table') }}
{%- set dimensions = ['failure_code', 'decline_code', 'card_brand', 'card_country'] %}

with

failed_attempts as (

    select * from {{ ref('fct_charges') }}
    where status = 'failed'

),

by_value as (

    {%- for dimension in dimensions %}
    select
        created_day as day,
        currency,
        livemode,
        '{{ dimension }}' as dimension,
        coalesce({{ dimension }}, '(none)') as dimension_value,
        count(*) as failed_attempts

    from failed_attempts
    group by 1, 2, 3, 4, 5
    {%- if not loop.last %}

    union all
    {% endif %}
    {%- endfor %}

),

daily_totals as (

    select
        created_day as day,
        currency,
        livemode,
        count(*) as failures_total,
        max(state_updated_at) as state_updated_at

    from failed_attempts
    group by 1, 2, 3

),

-- The 7 days before each day with failures: failures of this value and of all values (joins on the
-- window, not a subquery per row, which made the build quadratic in the number of values).
baseline_values as (

    select
        by_value.day,
        by_value.currency,
        by_value.livemode,
        by_value.dimension,
        by_value.dimension_value,
        by_value.failed_attempts,
        sum(earlier.failed_attempts) as baseline_failed_attempts

    from by_value
    left join by_value as earlier
        on earlier.currency = by_value.currency
        and earlier.livemode = by_value.livemode
        and earlier.dimension = by_value.dimension
        and earlier.dimension_value = by_value.dimension_value
        and earlier.day >= {{ dbt.dateadd('day', -7, 'by_value.day') }}
        and earlier.day < by_value.day
    group by 1, 2, 3, 4, 5, 6

),

baseline_totals as (

    select
        daily_totals.day,
        daily_totals.currency,
        daily_totals.livemode,
        daily_totals.failures_total,
        daily_totals.state_updated_at,
        sum(earlier_totals.failures_total) as baseline_failures_total

    from daily_totals
    left join daily_totals as earlier_totals
        on earlier_totals.currency = daily_totals.currency
        and earlier_totals.livemode = daily_totals.livemode
        and earlier_totals.day >= {{ dbt.dateadd('day', -7, 'daily_totals.day') }}
        and earlier_totals.day < daily_totals.day
    group by 1, 2, 3, 4, 5

),

trailing_week as (

    select
        baseline_values.*,
        baseline_totals.failures_total,
        baseline_totals.baseline_failures_total,
        baseline_totals.state_updated_at

    from baseline_values
    inner join baseline_totals
        on baseline_values.day = baseline_totals.day
        and baseline_values.currency = baseline_totals.currency
        and baseline_values.livemode = baseline_totals.livemode

),

-- Every value's row already carries its own trailing week (baseline_values), so its day's totals are the only
-- join: joining by_value again on five columns, which the planner estimates at one row, made the next join a
-- nested loop over every value and day (1.4 s instead of 0.4 s on the benchmark's warehouse).
shares as (

    select
        day,
        currency,
        livemode,
        dimension,
        dimension_value,
        failed_attempts,
        failures_total,
        baseline_failed_attempts,
        baseline_failures_total,
        state_updated_at,
        {{ safe_ratio('failed_attempts', 'failures_total') }} as share,
        -- No failures at all in the window: no baseline (null), and no spike can be judged.
        {{ safe_ratio('coalesce(baseline_failed_attempts, 0)', 'baseline_failures_total') }} as baseline_share

    from trailing_week

)

select
    cast(day as date) as day,
    currency,
    livemode,
    dimension,
    dimension_value,
    cast(failed_attempts as {{ dbt.type_bigint() }}) as failed_attempts,
    cast(failures_total as {{ dbt.type_bigint() }}) as failures_total,
    share,
    baseline_share,
    -- Compared on the exact fractions (cross-multiplied), not on the rounded shares.
    coalesce(
        failed_attempts * baseline_failures_total
            > {{ var('failure_spike_factor') }} * coalesce(baseline_failed_attempts, 0) * failures_total
        and failed_attempts >= {{ var('failure_spike_min_count') }},
        false
    ) as is_spike,
    state_updated_at,
    -- The minimum the build judged spikes with (dbt var failure_spike_min_count), so a page can say it.
    cast({{ var('failure_spike_min_count') }} as integer) as spike_min_failed_attempts

from shares
