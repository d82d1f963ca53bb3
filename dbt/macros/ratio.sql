{#- numerator / denominator as an exact numeric rounded to `digits`; null when the denominator is 0
    or null (a rate of nothing is unknown, not 0). dbt-core 1.11 has no safe_divide of its own (that one is
    dbt_utils', and the dbt hub is out of reach), so this one stays. -#}
{% macro safe_ratio(numerator, denominator, digits=4) -%}
    round(cast({{ numerator }} as {{ dbt.type_numeric() }}) / nullif({{ denominator }}, 0), {{ digits }})
{%- endmacro %}
