{#- The card networks whose monitoring programs payops tracks; every other brand or network is 'other'. -#}
{% macro card_network(brand_or_network) -%}
    case lower({{ brand_or_network }})
        when 'visa' then 'visa'
        when 'mastercard' then 'mastercard'
        else 'other'
    end
{%- endmacro %}
