{#- Each Stripe object's statuses in the order of its life, statuses of equal rank grouped; the last
    group holds the final states. ingest/processing.py ranks states of one object by this order (its
    STATUS_ORDER, which a test keeps equal to this) when two events share a `created` second; dbt only
    needs the final states. -#}
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
        'payout': [['pending'], ['in_transit'], ['paid', 'failed', 'canceled']],
    } %}
    {{ return(orders[object_type]) }}
{% endmacro %}

{% macro stripe_is_final_status(status_column, object_type) -%}
    coalesce({{ status_column }} in ('{{ stripe_status_order(object_type)[-1] | join("', '") }}'), false)
{%- endmacro %}
