{{ config(meta={'dagster': {'ref': {'name': 'revenue_trends'}}}) }}  -- a Dagster asset check on revenue_trends
-- Monthly (and weekly) revenue_trends sums equal payments_daily's totals per currency and mode.
{%- set measures = ['charges_succeeded', 'gross_amount_minor', 'refunded_amount_minor', 'dispute_loss_amount_minor', 'net_amount_minor'] %}
with

daily as (

    select currency, livemode
        {%- for measure in measures %}, sum({{ measure }}) as {{ measure }}{% endfor %}
    from {{ ref('payments_daily') }}
    group by 1, 2

),

periods as (

    select period_type, currency, livemode
        {%- for measure in measures %}, sum({{ measure }}) as {{ measure }}{% endfor %}
    from {{ ref('revenue_trends') }}
    group by 1, 2, 3

)

select periods.period_type, daily.*
from daily
full outer join periods
    on daily.currency = periods.currency and daily.livemode = periods.livemode
where periods.period_type is null
    {%- for measure in measures %}
    or daily.{{ measure }} is distinct from periods.{{ measure }}
    {%- endfor %}
