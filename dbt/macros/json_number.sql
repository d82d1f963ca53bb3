{#- A JSON value read as bigint, or null when it is not an integer bigint can hold. Raw events are read by
    models before processing has checked them (ingest/validation.py), so one event carrying "abc" or 1e30 where
    Stripe sends an integer must give null, not fail the build on every refresh. -#}
{% macro json_bigint(json_value) -%}
    case
        when jsonb_typeof({{ json_value }}) = 'number' and ({{ json_value }})::text ~ '^-?[0-9]{1,18}$'
            then cast(({{ json_value }})::text as bigint)
    end
{%- endmacro %}

{#- A JSON unix timestamp as timestamptz, or null outside 0 .. 9999-12-31 (what Python can show). -#}
{% macro json_unix_timestamp(json_value) -%}
    to_timestamp(
        case
            when {{ json_bigint(json_value) }} between 0 and 253402300799
                then {{ json_bigint(json_value) }}
        end
    )
{%- endmacro %}
