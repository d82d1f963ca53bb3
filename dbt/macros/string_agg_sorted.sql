{#- The group's values in order, joined by `delimiter`. dbt.listagg would do on Postgres, but on Spark it ignores
    the order (and warns), and the order is part of the value. -#}
{% macro string_agg_sorted(column, delimiter) -%}
    {{ return(adapter.dispatch('string_agg_sorted')(column, delimiter)) }}
{%- endmacro %}

{% macro default__string_agg_sorted(column, delimiter) -%}
    string_agg({{ column }}, '{{ delimiter }}' order by {{ column }})
{%- endmacro %}

{% macro spark__string_agg_sorted(column, delimiter) -%}
    array_join(array_sort(collect_list({{ column }})), '{{ delimiter }}')
{%- endmacro %}
