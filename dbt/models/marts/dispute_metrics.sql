-- Monthly dispute counts per card network and mode against the networks' monitoring programs:
-- Visa VAMP divides by the same month's settled card sales, Mastercard by the previous month's
-- transactions. Thresholds come from the network_thresholds seed. Counts, not amounts, so
-- currencies are not mixed. Inquiries are excluded: neither program counts them (docs/decisions.md).
with

charges as (

    select * from {{ ref('fct_charges') }}

),

disputes as (

    select * from {{ ref('fct_disputes') }}

),

thresholds as (

    select * from {{ ref('network_thresholds') }}

),


settled_sales as (

    select
        cast({{ dbt.date_trunc('month', 'created_day') }} as date) as month,
        {{ card_network('card_brand') }} as network,
        livemode,
        count(*) as card_sales

    from charges
    where status = 'succeeded' and captured
    group by 1, 2, 3

),

opened as (

    select
        cast({{ dbt.date_trunc('month', to_reporting_day('created_at')) }} as date) as month,
        {{ card_network('network') }} as network,
        livemode,
        count(*) as disputes

    from disputes
    where not is_inquiry
    group by 1, 2, 3

),

series as (

    select month, network, livemode from settled_sales
    union
    -- The month after a month of sales has a Mastercard denominator, up to the last reporting day.
    select cast({{ dbt.dateadd('month', 1, 'month') }} as date), network, livemode from settled_sales
    where {{ dbt.dateadd('month', 1, 'month') }} <= (select max(day) from {{ ref('int_stripe__reporting_days') }})
    union
    select month, network, livemode from opened

),

-- Disputes (inquiries too: they need answers) still open at the end of each month.
open_at_month_end as (

    select
        series.month,
        series.network,
        series.livemode,
        count(disputes.dispute_id) as open_disputes,
        min(disputes.evidence_due_by) as next_evidence_due_by

    from series
    inner join disputes
        on {{ card_network('disputes.network') }} = series.network
        and disputes.livemode = series.livemode
        and {{ to_reporting_day('disputes.created_at') }} < {{ dbt.dateadd('month', 1, 'series.month') }}
        and (
            disputes.closed_at is null
            or {{ to_reporting_day('disputes.closed_at') }} >= {{ dbt.dateadd('month', 1, 'series.month') }}
        )
    group by 1, 2, 3

),

-- How much of each month the data covers: the first and last months are usually partial, and a month of one
-- day has a ratio of one day's disputes over one day's sales, not the month's.
month_coverage as (

    select
        cast({{ dbt.date_trunc('month', 'day') }} as date) as month,
        count(*) as days_covered

    from {{ ref('int_stripe__reporting_days') }}
    group by 1

),

ratios as (

    select
        series.month,
        series.network,
        series.livemode,
        coalesce(opened.disputes, 0) as disputes,
        coalesce(same_month.card_sales, 0) as card_sales_same_month,
        coalesce(prior_month.card_sales, 0) as card_transactions_prior_month,
        {{ safe_ratio('coalesce(opened.disputes, 0)', 'same_month.card_sales', 6) }} as visa_ratio,
        {{ safe_ratio('coalesce(opened.disputes, 0)', 'prior_month.card_sales', 6) }} as mastercard_ratio

    from series
    left join opened
        on series.month = opened.month and series.network = opened.network and series.livemode = opened.livemode
    left join settled_sales as same_month
        on series.month = same_month.month
        and series.network = same_month.network
        and series.livemode = same_month.livemode
    left join settled_sales as prior_month
        on series.month = cast({{ dbt.dateadd('month', 1, 'prior_month.month') }} as date)
        and series.network = prior_month.network
        and series.livemode = prior_month.livemode

),

-- Per network and level, the row in force for the month: latest valid_from, region matching.
applicable_thresholds as (

    select
        ratios.month,
        ratios.network,
        ratios.livemode,
        thresholds.level,
        thresholds.severity,
        thresholds.min_count,
        thresholds.max_count,
        thresholds.ratio_threshold,
        thresholds.denominator,
        row_number() over (
            partition by ratios.month, ratios.network, ratios.livemode, thresholds.level
            order by thresholds.valid_from desc
        ) as recency_rank

    from ratios
    inner join thresholds
        on ratios.network = thresholds.network
        and thresholds.valid_from <= ratios.month
        and (
            thresholds.regions = 'all'
            or '|' || thresholds.regions || '|' like '%|{{ var("merchant_region") }}|%'
        )

),

levels_met as (

    select
        ratios.month,
        ratios.network,
        ratios.livemode,
        max(applicable_thresholds.severity) as severity

    from ratios
    inner join applicable_thresholds
        on ratios.month = applicable_thresholds.month
        and ratios.network = applicable_thresholds.network
        and ratios.livemode = applicable_thresholds.livemode
        and applicable_thresholds.recency_rank = 1
    where ratios.disputes >= applicable_thresholds.min_count
        and (applicable_thresholds.max_count is null or ratios.disputes <= applicable_thresholds.max_count)
        and case applicable_thresholds.denominator
            when 'same_month_settled_sales' then ratios.visa_ratio
            when 'prior_month_transactions' then ratios.mastercard_ratio
        end >= applicable_thresholds.ratio_threshold
    group by 1, 2, 3

),

statuses as (

    select
        levels_met.month,
        levels_met.network,
        levels_met.livemode,
        min(applicable_thresholds.level) as threshold_status

    from levels_met
    inner join applicable_thresholds
        on levels_met.month = applicable_thresholds.month
        and levels_met.network = applicable_thresholds.network
        and levels_met.livemode = applicable_thresholds.livemode
        and levels_met.severity = applicable_thresholds.severity
        and applicable_thresholds.recency_rank = 1
    group by 1, 2, 3

)

select
    ratios.month,
    ratios.network,
    ratios.livemode,
    cast(ratios.disputes as {{ dbt.type_bigint() }}) as disputes,
    cast(ratios.card_sales_same_month as {{ dbt.type_bigint() }}) as card_sales_same_month,
    cast(ratios.card_transactions_prior_month as {{ dbt.type_bigint() }}) as card_transactions_prior_month,
    ratios.visa_ratio,
    ratios.mastercard_ratio,
    coalesce(statuses.threshold_status, 'ok') as threshold_status,
    cast(coalesce(open_at_month_end.open_disputes, 0) as {{ dbt.type_bigint() }}) as open_disputes,
    open_at_month_end.next_evidence_due_by,
    -- The ratio the network's own program judges; 'other' networks have none.
    case ratios.network
        when 'visa' then ratios.visa_ratio
        when 'mastercard' then ratios.mastercard_ratio
    end as program_ratio,
    cast(coalesce(month_coverage.days_covered, 0) as integer) as days_covered,
    coalesce(month_coverage.days_covered, 0)
        < {{ dbt.datediff('ratios.month', dbt.dateadd('month', 1, 'ratios.month'), 'day') }} as is_partial_month

from ratios
left join statuses
    on ratios.month = statuses.month and ratios.network = statuses.network and ratios.livemode = statuses.livemode
left join month_coverage
    on ratios.month = month_coverage.month
left join open_at_month_end
    on ratios.month = open_at_month_end.month
    and ratios.network = open_at_month_end.network
    and ratios.livemode = open_at_month_end.livemode
