-- Webhook processing health per hour of arrival (UTC hours; an hour is the same instant in every
-- time zone payops supports but half-hour ones): volumes by processing status, delivery lag
-- (received_at - event created) and processing time percentiles.
-- Incremental: the hours holding a log row written since the last build (minus the lookback) are
-- recomputed whole from all their rows, replacing their old row (delete+insert on hour); percentiles
-- cannot be patched from a delta. A row's hour is fixed (received_at is written once, when the event is
-- stored) and log rows are never deleted, so an hour that has a row keeps it: no hour ever has to be
-- removed, which delete+insert alone could not do.
{{
    config(
        materialized=incremental_where_supported(),
        unique_key='hour',
        indexes=[
            {'columns': ['hour'], 'unique': true},
        ],
    )
}}

with

event_log as (

    select
        log_rows.*,
        {{ utc_hour_of('received_at') }} as hour,
        {{ seconds_between('event_created_at', 'received_at') }} as lag_seconds

    from {{ ref('stg_ops__webhook_event_log') }} as log_rows
    where {{ in_changed_hours_of_arrival('log_updated_at') }}

)

select
    hour,
    cast(count(*) as {{ dbt.type_bigint() }}) as received,
    cast(sum(case when status = 'processed' then 1 else 0 end) as {{ dbt.type_bigint() }}) as processed,
    cast(sum(case when status = 'failed' then 1 else 0 end) as {{ dbt.type_bigint() }}) as failed,
    cast(sum(case when status = 'retrying' then 1 else 0 end) as {{ dbt.type_bigint() }}) as retrying,
    cast(percentile_cont(0.5) within group (order by lag_seconds) as {{ engine_type('double precision') }}) as lag_p50_seconds,
    cast(percentile_cont(0.95) within group (order by lag_seconds) as {{ engine_type('double precision') }}) as lag_p95_seconds,
    -- Real deliveries apart from replayed files and API syncs: only a webhook's lag is a delivery delay (a replayed
    -- file's events are as old as the file).
    cast(sum(case when source = 'webhook' then 1 else 0 end) as {{ dbt.type_bigint() }}) as webhook_deliveries,
    cast(sum(case when source = 'replay' then 1 else 0 end) as {{ dbt.type_bigint() }}) as replayed,
    cast(sum(case when source = 'events_api' then 1 else 0 end) as {{ dbt.type_bigint() }}) as api_synced,
    cast(
        percentile_cont(0.5) within group (order by case when source = 'webhook' then lag_seconds end)
        as {{ engine_type('double precision') }}
    ) as webhook_lag_p50_seconds,
    cast(
        percentile_cont(0.95) within group (order by case when source = 'webhook' then lag_seconds end)
        as {{ engine_type('double precision') }}
    ) as webhook_lag_p95_seconds,
    cast(percentile_cont(0.5) within group (order by processing_ms) as {{ engine_type('double precision') }}) as processing_ms_p50,
    cast(percentile_cont(0.95) within group (order by processing_ms) as {{ engine_type('double precision') }}) as processing_ms_p95,
    max(updated_at) as log_updated_at

from event_log
group by hour
