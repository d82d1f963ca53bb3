-- The Webhooks page's headline: events received over the last 6 hours, 24 hours, 3 days and 7 days before this
-- build, split by how they arrived, with delivery-lag percentiles of the webhook deliveries only (percentiles do
-- not add up from webhook_health's hours, so each window is computed from the log's rows). A table of at most a
-- week of log rows, rebuilt whole: every window moves with the clock.
{%- set window_hours = [6, 24, 72, 168] %}

with

windows as (

    {%- for hours in window_hours %}
    select {{ hours }} as window_hours
    {%- if not loop.last %} union all{% endif %}
    {%- endfor %}

),

as_of as (

    select {{ dbt.current_timestamp() }} as built_at

),

event_log as (

    select
        event_id,
        source,
        status,
        received_at,
        {{ seconds_between('event_created_at', 'received_at') }} as lag_seconds

    from {{ ref('stg_ops__webhook_event_log') }}
    where received_at > {{ timestamp_minus('(select built_at from as_of)', window_hours | max, 'hour') }}

)

select
    windows.window_hours,
    cast(count(event_log.event_id) as {{ dbt.type_bigint() }}) as received,
    cast(count(case when event_log.source = 'webhook' then 1 end) as {{ dbt.type_bigint() }}) as webhook_deliveries,
    cast(count(case when event_log.source = 'replay' then 1 end) as {{ dbt.type_bigint() }}) as replayed,
    cast(count(case when event_log.source = 'events_api' then 1 end) as {{ dbt.type_bigint() }}) as api_synced,
    cast(count(case when event_log.status = 'processed' then 1 end) as {{ dbt.type_bigint() }}) as processed,
    cast(count(case when event_log.status = 'failed' then 1 end) as {{ dbt.type_bigint() }}) as failed,
    cast(count(case when event_log.status = 'retrying' then 1 end) as {{ dbt.type_bigint() }}) as retrying,
    cast(
        percentile_cont(0.5) within group (order by case when event_log.source = 'webhook' then event_log.lag_seconds end)
        as {{ engine_type('double precision') }}
    ) as webhook_lag_p50_seconds,
    cast(
        percentile_cont(0.95) within group (order by case when event_log.source = 'webhook' then event_log.lag_seconds end)
        as {{ engine_type('double precision') }}
    ) as webhook_lag_p95_seconds,
    (select built_at from as_of) as as_of

from windows
left join event_log
    on event_log.received_at > {{ timestamp_minus('(select built_at from as_of)', 'windows.window_hours', 'hour') }}
group by windows.window_hours
