{#- Everything dbt builds lands in the target schema (analytics) or in a custom schema named as is,
    never in dbt's default `<target>_<custom>` concatenation. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ (custom_schema_name or target.schema) | trim }}
{%- endmacro %}
