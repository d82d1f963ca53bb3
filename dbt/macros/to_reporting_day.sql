{#- The one place a timestamp becomes a reporting day: the calendar date in var('reporting_timezone').
    Expects a time-zone-aware timestamp (timestamptz). -#}
{% macro to_reporting_day(timestamp_expression) -%}
    cast(({{ timestamp_expression }}) at time zone '{{ var("reporting_timezone") }}' as date)
{%- endmacro %}
