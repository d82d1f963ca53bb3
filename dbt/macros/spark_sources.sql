{#- on-run-start: on Spark, every source becomes a table over its Parquet file from `payops export state --out DIR`
    (DIR is var('state_dir'); exports/state.py writes DIR/<schema>/<table>.parquet), so `source()` reads the same
    schema.table names as on Postgres. Nothing on Postgres, where the sources are the warehouse's own tables. -#}
{% macro register_state_tables() -%}
    {{ return(adapter.dispatch('register_state_tables')()) }}
{%- endmacro %}

{% macro default__register_state_tables() -%}
{%- endmacro %}

{% macro spark__register_state_tables() -%}
    {%- if execute -%}
        {%- set state_dir = var('state_dir', none) -%}
        {%- if not state_dir -%}
            {{ exceptions.raise_compiler_error(
                "The spark target reads the state tables from Parquet: run `payops export state --out DIR`, then "
                ~ "dbt with --vars '{state_dir: DIR}'"
            ) }}
        {%- endif -%}
        {%- for schema in graph.sources.values() | map(attribute='schema') | unique -%}
            {%- do run_query('create schema if not exists ' ~ schema) -%}
        {%- endfor -%}
        {%- for source in graph.sources.values() -%}
            {%- do run_query('drop table if exists ' ~ source.schema ~ '.' ~ source.identifier) -%}
            {%- do run_query(
                'create table ' ~ source.schema ~ '.' ~ source.identifier ~ ' using parquet location '
                ~ "'" ~ state_dir ~ '/' ~ source.schema ~ '/' ~ source.identifier ~ ".parquet'"
            ) -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}
