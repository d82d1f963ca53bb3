-- Webhook processing health per hour of arrival (UTC hours; an hour is the same instant in every
-- time zone payops supports but half-hour ones): volumes by processing status, delivery lag
-- (received_at - event created) and processing time percentiles.
with

event_log as (

    select
        *,
        -- Truncated on the epoch, not with date_trunc, which would follow the session's time zone.
        to_timestamp(floor(extract(epoch from received_at) / 3600) * 3600) as hour,
        extract(epoch from received_at - event_created_at) as lag_seconds

    from {{ ref('stg_ops__webhook_event_log') }}

)

select
    hour,
    cast(count(*) as {{ dbt.type_bigint() }}) as received,
    cast(sum(case when status = 'processed' then 1 else 0 end) as {{ dbt.type_bigint() }}) as processed,
    cast(sum(case when status = 'failed' then 1 else 0 end) as {{ dbt.type_bigint() }}) as failed,
    cast(sum(case when status = 'retrying' then 1 else 0 end) as {{ dbt.type_bigint() }}) as retrying,
    cast(percentile_cont(0.5) within group (order by lag_seconds) as double precision) as lag_p50_seconds,
    cast(percentile_cont(0.95) within group (order by lag_seconds) as double precision) as lag_p95_seconds,
    cast(percentile_cont(0.5) within group (order by processing_ms) as double precision) as processing_ms_p50,
    cast(percentile_cont(0.95) within group (order by processing_ms) as double precision) as processing_ms_p95

from event_log
group by hour
