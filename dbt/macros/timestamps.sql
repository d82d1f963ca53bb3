{#- Time arithmetic the two engines spell differently. Timestamps are instants (timestamptz on Postgres; on Spark
    timestamps in a UTC session, profiles.yml). -#}

{#- A unix time in seconds as a timestamp. -#}
{% macro unix_seconds_to_timestamp(seconds) -%}
    {{ return(adapter.dispatch('unix_seconds_to_timestamp')(seconds)) }}
{%- endmacro %}

{% macro default__unix_seconds_to_timestamp(seconds) -%}
    to_timestamp({{ seconds }})
{%- endmacro %}

{% macro spark__unix_seconds_to_timestamp(seconds) -%}
    timestamp_seconds({{ seconds }})
{%- endmacro %}

{#- Seconds from one timestamp to a later one, with their fraction (dbt.datediff counts whole units). -#}
{% macro seconds_between(earlier, later) -%}
    {{ return(adapter.dispatch('seconds_between')(earlier, later)) }}
{%- endmacro %}

{% macro default__seconds_between(earlier, later) -%}
    extract(epoch from {{ later }} - {{ earlier }})
{%- endmacro %}

{% macro spark__seconds_between(earlier, later) -%}
    (unix_micros({{ later }}) - unix_micros({{ earlier }})) / 1000000.0
{%- endmacro %}

{#- `timestamp` minus `amount` (an expression) of `unit` (minute, hour), to the microsecond: dbt.dateadd on
    Spark goes through whole unix seconds. -#}
{% macro timestamp_minus(timestamp, amount, unit) -%}
    {{ return(adapter.dispatch('timestamp_minus')(timestamp, amount, unit)) }}
{%- endmacro %}

{% macro default__timestamp_minus(timestamp, amount, unit) -%}
    {{ timestamp }} - {{ amount }} * interval '1 {{ unit }}'
{%- endmacro %}

{% macro spark__timestamp_minus(timestamp, amount, unit) -%}
    timestampadd({{ unit }}, -({{ amount }}), {{ timestamp }})
{%- endmacro %}

{#- The UTC hour a timestamp falls in, truncated on the epoch: Postgres's date_trunc would follow the session's
    time zone. -#}
{% macro utc_hour_of(timestamp) -%}
    {{ return(adapter.dispatch('utc_hour_of')(timestamp)) }}
{%- endmacro %}

{% macro default__utc_hour_of(timestamp) -%}
    to_timestamp(floor(extract(epoch from {{ timestamp }}) / 3600) * 3600)
{%- endmacro %}

{% macro spark__utc_hour_of(timestamp) -%}
    timestamp_seconds(floor(unix_seconds({{ timestamp }}) / 3600) * 3600)
{%- endmacro %}
