{#- The platform's rows of one table, as `payops ingest app` copied them into raw.app_rows; on an
    incremental build only those copied since this model's newest `loaded_at` (minus the lookback).
    A row the platform changed is copied again with a new `loaded_at`, so a merge on its id keeps the
    newest version. -#}
{% macro app_rows_since_last_build(source_table) -%}
    select * from {{ source('app', 'app_rows') }}
    where source_table = '{{ source_table }}'
        and {{ changed_since_last_build('loaded_at') }}
{%- endmacro %}

{#- The config every app staging model shares: incremental, merged on its id (a unique index, so a
    duplicate id fails the build), with `loaded_at` indexed for the next build's watermark. -#}
{% macro app_staging_config(key_column, indexed_columns=[]) -%}
    {%- set indexes = [{'columns': [key_column], 'unique': true}, {'columns': ['loaded_at']}] -%}
    {%- for column in indexed_columns -%}
        {%- do indexes.append({'columns': [column]}) -%}
    {%- endfor -%}
    {{ config(
        materialized='incremental',
        incremental_strategy=payops_incremental_strategy(),
        unique_key=key_column,
        on_schema_change='append_new_columns',
        indexes=indexes,
    ) }}
{%- endmacro %}
