{#- Stripe amounts are integers in the currency's minor unit; the exponent comes from the currencies
    seed (0 for jpy, 2 for usd, 3 for kwd). Rounded to the exponent so 5000 jpy reads 5000 and
    1234 kwd reads 1.234, and the result is an exact numeric, never a float. -#}
{% macro minor_to_major(amount_minor, exponent) -%}
    {{ return(adapter.dispatch('minor_to_major')(amount_minor, exponent)) }}
{%- endmacro %}

{% macro default__minor_to_major(amount_minor, exponent) -%}
    round(cast({{ amount_minor }} as {{ dbt.type_numeric() }}) / power(cast(10 as {{ dbt.type_numeric() }}), {{ exponent }}), {{ exponent }})
{%- endmacro %}

{#- Spark's power() is a double and its round() takes a constant scale only; an integer divided by an exact
    decimal 10^exponent needs no rounding, its scale (at least 6) holds every digit. -#}
{% macro spark__minor_to_major(amount_minor, exponent) -%}
    cast({{ amount_minor }} as decimal(38, 0)) / cast(power(10, {{ exponent }}) as decimal(38, 0))
{%- endmacro %}

{#- The pair of columns every money figure gets: `<name>` in major units and `<name>_minor` as an
    exact bigint in minor units, from one minor-unit expression. -#}
{% macro money_columns(amount_minor, name, exponent='currencies.exponent') -%}
    {{ minor_to_major(amount_minor, exponent) }} as {{ name }},
    cast({{ amount_minor }} as {{ dbt.type_bigint() }}) as {{ name }}_minor
{%- endmacro %}
