{#- The platform's rows of one table, as `payops ingest app` copied them into raw.app_rows; on an
    incremental build only those copied since this model's newest `loaded_at` (minus the lookback).
    A row the platform changed is copied again with a new `loaded_at`, so replacing the rows of the ids
    re-read (the model's unique_key) keeps the newest version. -#}
{% macro app_rows_since_last_build(source_table) -%}
    select * from {{ source('app', 'app_rows') }}
    where source_table = '{{ source_table }}'
        and {{ changed_since_last_build('loaded_at') }}
{%- endmacro %}

