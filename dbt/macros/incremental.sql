{#- Incremental marts merge on Postgres 15+ (MERGE exists there) and delete+insert before. Read
    from the server when the model is compiled for a run; at parse time (no connection) 'merge'. -#}
{% macro payops_incremental_strategy() -%}
    {%- if execute -%}
        {%- set version = run_query('show server_version_num').columns[0].values()[0] | int -%}
        {{- return('merge' if version >= 150000 else 'delete+insert') -}}
    {%- endif -%}
    {{- return('merge') -}}
{%- endmacro %}

{#- Rows of `relation` whose `watermark_column` is newer than this model's newest watermark minus
    var('incremental_lookback_minutes'): everything on a full build. The watermark is arrival time in the
    warehouse, so late events with old `created` are still picked up; the lookback covers loads whose
    transactions committed out of order. -#}
{% macro changed_since_last_build(watermark_column, this_column=none) -%}
    {%- if is_incremental() -%}
    {{ watermark_column }} > (
        select coalesce(
            max({{ this_column or watermark_column }}) - interval '{{ var("incremental_lookback_minutes") }} minutes',
            cast('1900-01-01' as {{ dbt.type_timestamp() }})
        )
        from {{ this }}
    )
    {%- else -%}
    true
    {%- endif -%}
{%- endmacro %}

{#- For models of immutable rows (a Stripe event never changes): true for rows whose `key_expression` is
    not yet in this model, so an append adds each row once however often the lookback re-reads it.
    Everything on a full build. -#}
{% macro not_yet_in_this(key_expression, this_key_column) -%}
    {%- if is_incremental() -%}
    not exists (
        select 1 from {{ this }} as already_built
        where already_built.{{ this_key_column }} = {{ key_expression }}
    )
    {%- else -%}
    true
    {%- endif -%}
{%- endmacro %}
