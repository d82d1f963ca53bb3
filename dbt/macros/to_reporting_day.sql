{#- The one place a timestamp becomes a reporting day: the calendar date in var('reporting_timezone').
    Expects a time-zone-aware timestamp (timestamptz). Adapters whose SQL lacks `at time zone`
    add their own <adapter>__to_reporting_day. -#}
{% macro to_reporting_day(timestamp_expression) -%}
    {{ return(adapter.dispatch('to_reporting_day', 'payops')(timestamp_expression)) }}
{%- endmacro %}

{% macro default__to_reporting_day(timestamp_expression) -%}
    cast(({{ timestamp_expression }}) at time zone '{{ var("reporting_timezone") }}' as date)
{%- endmacro %}
