{#- Reading JSON: Stripe's objects and the platform's rows are jsonb on Postgres and JSON text on Spark (the Parquet
    files of `payops export state`). A `path` is keys joined by dots ('card.brand'); Stripe's keys have no dots. -#}

{#- The JSON value at `path` as text (Postgres ->>): a string unquoted, an object or array as JSON. -#}
{% macro json_text(json, path) -%}
    {{ return(adapter.dispatch('json_text')(json, path)) }}
{%- endmacro %}

{% macro default__json_text(json, path) -%}
    {%- set keys = path.split('.') -%}
    {{ json }}{% for key in keys[:-1] %} -> '{{ key }}'{% endfor %} ->> '{{ keys[-1] }}'
{%- endmacro %}

{% macro spark__json_text(json, path) -%}
    get_json_object({{ json }}, '$.{{ path }}')
{%- endmacro %}

{#- The JSON value at `path` as JSON (Postgres ->): jsonb on Postgres, JSON text on Spark. -#}
{% macro json_value(json, path) -%}
    {{ return(adapter.dispatch('json_value')(json, path)) }}
{%- endmacro %}

{% macro default__json_value(json, path) -%}
    {{ json }}{% for key in path.split('.') %} -> '{{ key }}'{% endfor %}
{%- endmacro %}

{% macro spark__json_value(json, path) -%}
    get_json_object({{ json }}, '$.{{ path }}')
{%- endmacro %}

{#- A join clause giving one row's JSON object as typed columns `alias.<field>`, for `fields` (name: Postgres type),
    read in one pass: on Postgres each `->>` on a compressed jsonb value decompresses the whole object again (30
    fields made the build 10x slower than one pass; docs/benchmarks.md). It must follow the FROM's last relation:
    Spark takes a LATERAL VIEW only there. -#}
{% macro json_record(json, alias, fields) -%}
    {{ return(adapter.dispatch('json_record')(json, alias, fields)) }}
{%- endmacro %}

{% macro default__json_record(json, alias, fields) -%}
    cross join lateral jsonb_to_record({{ json }}) as {{ alias }} (
        {%- for name, type in fields.items() %}
        {{ name }} {{ type }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    )
{%- endmacro %}

{#- from_json keeps a nested object or array as its JSON text when its field is a string. -#}
{% macro spark__json_record(json, alias, fields) -%}
    {%- set schema -%}
        {%- for name, type in fields.items() -%}
            {{ name }} {{ engine_type(type) }}{% if not loop.last %}, {% endif %}
        {%- endfor -%}
    {%- endset -%}
    lateral view inline(array(from_json({{ json }}, '{{ schema }}'))) {{ alias }}
{%- endmacro %}

{#- The JSON value at `path` as bigint, or null when it is not an integer bigint can hold. Raw events are read by
    models before processing has checked them (ingest/validation.py), so one event carrying "abc" or 1e30 where
    Stripe sends an integer must give null, not fail the build on every refresh. -#}
{% macro json_bigint(json, path) -%}
    {{ return(adapter.dispatch('json_bigint')(json, path)) }}
{%- endmacro %}

{% macro default__json_bigint(json, path) -%}
    {%- set value = json_value(json, path) -%}
    case
        when jsonb_typeof({{ value }}) = 'number' and ({{ value }})::text ~ '^-?[0-9]{1,18}$'
            then cast(({{ value }})::text as bigint)
    end
{%- endmacro %}

{#- from_json gives null for a field that is a string, a fraction or out of bigint's range. -#}
{% macro spark__json_bigint(json, path) -%}
    {%- set keys = path.split('.') -%}
    {%- set parent = json if keys | length == 1 else json_value(json, keys[:-1] | join('.')) -%}
    from_json({{ parent }}, '`{{ keys[-1] }}` bigint').`{{ keys[-1] }}`
{%- endmacro %}

{#- The JSON unix timestamp at `path` as a timestamp, or null outside 0 .. 9999-12-31 (what Python can show). -#}
{% macro json_unix_timestamp(json, path) -%}
    {{ unix_seconds_to_timestamp(
        'case when ' ~ json_bigint(json, path) ~ ' between 0 and 253402300799 then ' ~ json_bigint(json, path) ~ ' end'
    ) }}
{%- endmacro %}

{#- The id at `field` of a Stripe object: an expandable field is an id, or the object itself when a client asked
    Stripe to expand it. -#}
{% macro stripe_expandable_id(json, field) -%}
    {{ return(adapter.dispatch('stripe_expandable_id')(json, field)) }}
{%- endmacro %}

{% macro default__stripe_expandable_id(json, field) -%}
    case jsonb_typeof({{ json }} -> '{{ field }}')
        when 'object' then {{ json }} -> '{{ field }}' ->> 'id'
        else {{ json }} ->> '{{ field }}'
    end
{%- endmacro %}

{#- An id string has no `.id`, and an expanded object is no string. -#}
{% macro spark__stripe_expandable_id(json, field) -%}
    coalesce(get_json_object({{ json }}, '$.{{ field }}.id'), get_json_object({{ json }}, '$.{{ field }}'))
{%- endmacro %}

{#- The sum of `amount` over the elements of the JSON array at `array_path` whose `type` is `type_value`
    (Stripe's fee_details), 0 for none or no array. -#}
{% macro json_array_sum_of_type(json, array_path, type_value) -%}
    {{ return(adapter.dispatch('json_array_sum_of_type')(json, array_path, type_value)) }}
{%- endmacro %}

{% macro default__json_array_sum_of_type(json, array_path, type_value) -%}
    coalesce((
        select sum(cast(detail ->> 'amount' as bigint))
        from jsonb_array_elements(coalesce({{ json_value(json, array_path) }}, '[]'::jsonb)) as detail
        where detail ->> 'type' = '{{ type_value }}'
    ), 0)
{%- endmacro %}

{% macro spark__json_array_sum_of_type(json, array_path, type_value) -%}
    coalesce(aggregate(
        from_json(get_json_object({{ json }}, '$.{{ array_path }}'), 'array<struct<amount: bigint, type: string>>'),
        cast(0 as bigint),
        (total, detail) -> total + case when detail.type = '{{ type_value }}' then detail.amount else 0 end
    ), 0)
{%- endmacro %}
