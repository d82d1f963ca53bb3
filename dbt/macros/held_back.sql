{#- Whether processing held the event back (status failed): its object never reached a state table. -#}
{% macro held_back(event_id) -%}
    exists (
        select 1 from {{ source('ops', 'webhook_event_log') }} as held
        where held.event_id = {{ event_id }} and held.status = 'failed'
    )
{%- endmacro %}
