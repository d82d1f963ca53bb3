{#- For models per hour of arrival (webhook_health, webhook_events_by_type): a condition on the log's received_at
    that keeps the rows of every hour holding a log row written since this model's newest `this_column` (minus the
    lookback), so each such hour is recomputed whole from all its rows; true on a full build. The hours are read
    when the model compiles and written into the SQL as time ranges, like the watermark: behind a subquery the
    planner guessed thousands of hours and sorted the whole log to join them. -#}
{% macro in_changed_hours_of_arrival(this_column) -%}
    {%- if is_incremental() and execute -%}
        {%- set changed_hours = run_query(
            'select distinct cast(' ~ utc_hour_of('received_at') ~ ' as text) from ' ~ ref('stg_ops__webhook_event_log')
            ~ ' where ' ~ changed_since_last_build('updated_at', this_column)
        ).columns[0].values() -%}
    (false
        {%- for hour in changed_hours %}
        or (received_at >= cast('{{ hour }}' as timestamp with time zone)
            and received_at < cast('{{ hour }}' as timestamp with time zone) + interval '1 hour')
        {%- endfor %})
    {%- else -%}
    true
    {%- endif -%}
{%- endmacro %}
