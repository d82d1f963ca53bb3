-- The reporting calendar: every day (in the reporting time zone) from the earliest Stripe activity
-- to the day of the newest event. dbt.date_spine reads both bounds when the model is compiled;
-- without any event it spans today only. The bounds are read as min/max of indexed columns (the day is
-- a monotonic function of the instant), so they cost two index probes, not a scan of every event.
{%- set events = ref('stg_stripe__events') %}
{%- set today = to_reporting_day(dbt.current_timestamp()) %}
{%- set first_day -%}
    coalesce(
        (select {{ to_reporting_day('least(min(event_created_at), min(object_created_at))') }} from {{ events }}),
        {{ today }}
    )
{%- endset %}
{%- set day_after_last -%}
    coalesce(
        (select {{ dbt.dateadd('day', 1, to_reporting_day('max(event_created_at)')) }} from {{ events }}),
        {{ dbt.dateadd('day', 1, today) }}
    )
{%- endset %}

with

days as (

    {{ dbt.date_spine('day', first_day, day_after_last) }}

)

select cast(date_day as date) as day
from days
