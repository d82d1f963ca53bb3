-- Weekly (ISO weeks, Monday first) and monthly revenue per currency and mode, re-aggregated from
-- payments_daily's minor-unit sums (so the periods add up to the daily figures exactly), with growth
-- against the previous period of the same series. First and last periods may be partial.
with

daily as (

    select * from {{ ref('payments_daily') }}

),

currencies as (

    select * from {{ ref('currencies') }}

),

-- Days of each period inside the reporting calendar: a period the data covers only in part is marked, so a
-- week or month of one day does not read as a collapse.
{%- set measures = ['gross', 'refunded', 'dispute_loss', 'net'] %}

coverage as (

    {%- for period_type in ['week', 'month'] %}
    select
        '{{ period_type }}' as period_type,
        cast({{ dbt.date_trunc(period_type, 'day') }} as date) as period_start,
        count(*) as days_covered

    from {{ ref('int_stripe__reporting_days') }}
    group by 1, 2
    {%- if not loop.last %}

    union all
    {% endif %}
    {%- endfor %}

),

periods as (

    {%- for period_type in ['week', 'month'] %}
    select
        '{{ period_type }}' as period_type,
        cast({{ dbt.date_trunc(period_type, 'day') }} as date) as period_start,
        currency,
        livemode,
        sum(charges_succeeded) as charges_succeeded
        {%- for measure in measures %},
        sum({{ measure }}_amount_minor) as {{ measure }}_amount_minor
        {%- endfor %}

    from daily
    group by 1, 2, 3, 4
    {%- if not loop.last %}

    union all
    {% endif %}
    {%- endfor %}

),

with_previous as (

    select
        *,
        {%- for measure in ['gross', 'net'] %}
        lag({{ measure }}_amount_minor) over (
            partition by period_type, currency, livemode order by period_start
        ) as previous_{{ measure }}_amount_minor
        {%- if not loop.last %},{% endif %}
        {%- endfor %}

    from periods

)

select
    with_previous.period_type,
    with_previous.period_start,
    with_previous.currency,
    with_previous.livemode,
    cast(with_previous.charges_succeeded as {{ dbt.type_bigint() }}) as charges_succeeded,
    {%- for measure in measures %}
    cast(with_previous.{{ measure }}_amount_minor as {{ dbt.type_bigint() }}) as {{ measure }}_amount_minor,
    {{ minor_to_major('with_previous.' ~ measure ~ '_amount_minor', 'currencies.exponent') }} as {{ measure }}_amount,
    {%- endfor %}
    -- Change over the previous period relative to its size (abs, so a rise from a negative net reads
    -- as growth); null for the first period and after a period of 0.
    {%- for measure in ['net', 'gross'] %}
    {{ safe_ratio(
        'with_previous.' ~ measure ~ '_amount_minor - with_previous.previous_' ~ measure ~ '_amount_minor',
        'abs(with_previous.previous_' ~ measure ~ '_amount_minor)'
    ) }} as {{ measure }}_growth_rate,
    {%- endfor %}
    cast({{ dbt.dateadd('day', 'period_days.days - 1', 'with_previous.period_start') }} as date) as period_end,
    cast(coalesce(coverage.days_covered, 0) as integer) as days_covered,
    coalesce(coverage.days_covered, 0) < period_days.days as is_partial

from with_previous
cross join lateral (
    select case with_previous.period_type
        when 'week' then 7
        else {{ dbt.datediff('with_previous.period_start', dbt.dateadd('month', 1, 'with_previous.period_start'), 'day') }}
    end as days
) as period_days
left join coverage
    on with_previous.period_type = coverage.period_type and with_previous.period_start = coverage.period_start
left join currencies
    on with_previous.currency = currencies.currency
