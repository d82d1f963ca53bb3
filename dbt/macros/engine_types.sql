{#- A column type by its Postgres name, as the engine building the models spells it. The models keep Postgres's
    names (and its contracts declare them): on Postgres this renders the name unchanged. dbt's type_* macros
    would not: dbt.type_string() is varchar and dbt.type_numeric() numeric(28,6) on Postgres, which would change
    the marts' types and rounding there. -#}
{% macro engine_type(postgres_type) -%}
    {{ return(adapter.dispatch('engine_type')(postgres_type)) }}
{%- endmacro %}

{% macro default__engine_type(postgres_type) -%}
    {{ return(postgres_type) }}
{%- endmacro %}

{#- jsonb is kept as its JSON text on Spark (payops export state writes it so), read with get_json_object and
    from_json. numeric gets 6 decimals: enough for the platform's major-unit amounts and hours, and for Stripe's
    exchange rates at the precision payops reports them. -#}
{% macro spark__engine_type(postgres_type) -%}
    {%- set spark_types = {
        'text': 'string',
        'jsonb': 'string',
        'integer': 'int',
        'numeric': 'decimal(28, 6)',
        'double precision': 'double',
        'timestamptz': 'timestamp',
        'timestamp with time zone': 'timestamp',
    } -%}
    {{ return(spark_types.get(postgres_type, postgres_type)) }}
{%- endmacro %}
