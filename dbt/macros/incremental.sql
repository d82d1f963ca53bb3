{#- Rows whose `watermark_column` is newer than this model's newest watermark (`this_column`, by default
    the same name) minus var('incremental_lookback_minutes'): everything on a full build. The watermark is
    arrival time in the warehouse, so late events with old `created` are still picked up; the lookback
    covers loads whose transactions committed out of order. `extra_minutes` widens the margin, for a watermark
    that is not an arrival time. -#}
{% macro changed_since_last_build(watermark_column, this_column=none, extra_minutes=0) -%}
    {%- set newest = newest_in_this(this_column or watermark_column) -%}
    {%- if newest is none -%}
    true
    {%- else -%}
    {{ watermark_column }} > cast('{{ newest }}' as timestamp with time zone) - interval '{{ var("incremental_lookback_minutes") + extra_minutes }} minutes'
    {%- endif -%}
{%- endmacro %}

{#- Rows of an upstream incremental model that a build of it wrote after the one this model last copied from:
    `built_at_column` is when that build ran, one value for all the rows it wrote, copied here with the rows.
    No lookback: dbt runs the upstream model, committed, before this one, and each build runs later than the last
    (a lookback would re-read the whole table after the upstream model's full build, whose rows all share one
    time). Everything on a full build. -#}
{% macro written_since_last_build(built_at_column) -%}
    {%- set newest = newest_in_this(built_at_column) -%}
    {%- if newest is none -%}
    true
    {%- else -%}
    {{ built_at_column }} > cast('{{ newest }}' as timestamp with time zone)
    {%- endif -%}
{%- endmacro %}

{#- The newest value of `column` in this model as text, or none: on a full build, on an empty table, and on a table
    built before its model kept the column (an upgrade: it is re-read whole once). Read when the model is compiled
    and written into the SQL as a constant: behind a subquery the planner guessed that a third of a million-row
    source had changed and scanned it whole instead of reading its index. -#}
{% macro newest_in_this(column) -%}
    {%- if not (is_incremental() and execute) -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set built_columns = adapter.get_columns_in_relation(this) | map(attribute='name') | list -%}
    {%- if column not in built_columns -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(run_query("select cast(max(" ~ column ~ ") as text) from " ~ this).columns[0].values()[0]) }}
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

{#- True where `column` is one of the values `values_query` returns: an incremental build's few changed keys,
    found through the column's index. Postgres plans `in (<query>)` as a join, and for a CTE's keys it guessed
    a join by hashing every row of the table (300,000 purchases, 400,000 charges, for 6,000 changed keys); `= any(array(<query>))`
    computes an array first and looks each value up, and pushes it into a grouped view's scan. -#}
{% macro is_one_of(column, values_query) -%}
    {{ return(adapter.dispatch('is_one_of')(column, values_query)) }}
{%- endmacro %}

{% macro default__is_one_of(column, values_query) -%}
    {{ column }} = any(array({{ values_query }}))
{%- endmacro %}

{% macro spark__is_one_of(column, values_query) -%}
    {{ column }} in ({{ values_query }})
{%- endmacro %}

{#- The materialization of a model built incrementally: incremental on Postgres; on Spark a table rebuilt whole
    (docs/decisions.md, "dbt on Spark"): Spark's plain Parquet tables take no delete+insert, and a Spark build
    starts from the exported state anyway. -#}
{% macro incremental_where_supported() -%}
    {{ return(adapter.dispatch('incremental_where_supported')()) }}
{%- endmacro %}

{% macro default__incremental_where_supported() -%}
    {{ return('incremental') }}
{%- endmacro %}

{% macro spark__incremental_where_supported() -%}
    {{ return('table') }}
{%- endmacro %}

{#- A CTE's `as` for a CTE Postgres must not materialize (so each use finds its rows by its own index); Spark has
    no such hint and needs none. -#}
{% macro cte_not_materialized() -%}
    {{ return(adapter.dispatch('cte_not_materialized')()) }}
{%- endmacro %}

{% macro default__cte_not_materialized() -%}
    as not materialized
{%- endmacro %}

{% macro spark__cte_not_materialized() -%}
    as
{%- endmacro %}

{#- The ids of the Stripe objects ('charge' or 'dispute') with a new state or a new event since this model's newest
    `this_column` (minus the lookback): a late event can move what an object's event history decides (a refund
    increment, a dispute's close) without changing its state. -#}
{% macro objects_with_new_state_or_event(object_type, this_column) -%}
    select {{ object_type }}_id from {{ ref('stg_stripe__' ~ object_type ~ 's') }}
    where {{ changed_since_last_build('state_updated_at', this_column) }}

    union

    select {{ object_type }}_id from {{ ref('base_stripe__' ~ object_type ~ '_events') }}
    where {{ changed_since_last_build('received_at', this_column) }}
{%- endmacro %}
