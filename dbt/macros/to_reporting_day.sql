{#- The one place a timestamp becomes a reporting day: the calendar date in var('reporting_timezone').
    Expects a time-zone-aware timestamp (timestamptz; on Spark an instant in the UTC session). -#}
{% macro to_reporting_day(timestamp_expression) -%}
    {{ return(adapter.dispatch('to_reporting_day')(timestamp_expression)) }}
{%- endmacro %}

{% macro default__to_reporting_day(timestamp_expression) -%}
    cast(({{ timestamp_expression }}) at time zone '{{ var("reporting_timezone") }}' as date)
{%- endmacro %}

{% macro spark__to_reporting_day(timestamp_expression) -%}
    cast(from_utc_timestamp({{ timestamp_expression }}, '{{ var("reporting_timezone") }}') as date)
{%- endmacro %}
