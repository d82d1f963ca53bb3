{#- Keep the latest state of every object from a relation holding one row per event about it.
    Newest event `created` wins, never arrival order (webhooks are at-least-once and unordered).
    `created` has 1-second resolution, so ties fall to `tie_breakers` (the object's own fields,
    e.g. 'status_rank desc'), then to event_id so the choice is deterministic.
    Returns every column of the relation plus recency_rank (always 1); callers list the columns
    they keep. -#}
{% macro latest_state(relation, unique_key, tie_breakers=[]) %}
    select *
    from (
        select
            *,
            row_number() over (
                partition by {{ unique_key }}
                order by event_created_at desc
                {%- for tie_breaker in tie_breakers %}, {{ tie_breaker }}{% endfor %}, event_id desc
            ) as recency_rank
        from {{ relation }}
    ) as ranked
    where recency_rank = 1
{% endmacro %}
