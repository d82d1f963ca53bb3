{#- Stripe amounts are integers in the currency's minor unit; the exponent comes from the currencies
    seed (0 for jpy, 2 for usd, 3 for kwd). Rounded to the exponent so 5000 jpy reads 5000 and
    1234 kwd reads 1.234, and the result is an exact numeric, never a float. -#}
{% macro minor_to_major(amount_minor, exponent) -%}
    round(cast({{ amount_minor }} as {{ dbt.type_numeric() }}) / power(cast(10 as {{ dbt.type_numeric() }}), {{ exponent }}), {{ exponent }})
{%- endmacro %}
