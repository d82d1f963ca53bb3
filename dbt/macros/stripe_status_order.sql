{#- Each Stripe object's statuses in the order of its life, statuses of equal rank grouped.
    Events carry `created` at 1-second resolution, so two states of one object can tie; the later
    status in life then wins. Final states outrank open ones; the last group holds the final states. -#}
{% macro stripe_status_order(object_type) %}
    {% set orders = {
        'charge': [['pending'], ['failed'], ['succeeded']],
        'payment_intent': [
            ['requires_payment_method'], ['requires_confirmation'], ['requires_action'],
            ['processing'], ['requires_capture'], ['succeeded', 'canceled']
        ],
        'refund': [['pending'], ['requires_action'], ['succeeded'], ['failed', 'canceled']],
        'dispute': [
            ['warning_needs_response', 'needs_response'],
            ['warning_under_review', 'under_review'],
            ['warning_closed', 'won', 'lost', 'prevented']
        ],
    } %}
    {{ return(orders[object_type]) }}
{% endmacro %}

{% macro stripe_status_rank(status_column, object_type) -%}
    case {{ status_column }}
    {%- for statuses in stripe_status_order(object_type) %}
        {%- set rank = loop.index %}
        {%- for status in statuses %} when '{{ status }}' then {{ rank }}{% endfor %}
    {%- endfor %}
        else 0
    end
{%- endmacro %}

{% macro stripe_is_final_status(status_column, object_type) -%}
    coalesce({{ status_column }} in ('{{ stripe_status_order(object_type)[-1] | join("', '") }}'), false)
{%- endmacro %}
