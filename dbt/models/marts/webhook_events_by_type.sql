-- Webhook processing per hour of arrival, event type and source: how many events of each type failed for good,
-- wait for a retry, needed more than one attempt, and how many of them the Events API sync stored first (the
-- gaps it filled: raw.stripe_events keeps the source of the first copy stored, so a webhook delivery arriving
-- after the sync leaves it `events_api`). What the webhook reliability report reads per type; webhook_health
-- holds the hour's totals and lag percentiles.
-- Incremental like webhook_health, for the same reasons: each hour holding a log row written since the last
-- build is recomputed whole (delete+insert on hour); an hour's rows never move to another hour.
{{
    config(
        materialized=incremental_where_supported(),
        unique_key='hour',
        indexes=[
            {'columns': ['hour', 'event_type', 'source'], 'unique': true},
        ],
    )
}}

with

event_log as (

    select
        event_type,
        source,
        status,
        retry_count,
        updated_at,
        {{ utc_hour_of('received_at') }} as hour

    from {{ ref('stg_ops__webhook_event_log') }}
    where {{ in_changed_hours_of_arrival('log_updated_at') }}

)

select
    hour,
    event_type,
    source,
    cast(count(*) as {{ dbt.type_bigint() }}) as received,
    cast(sum(case when status = 'processed' then 1 else 0 end) as {{ dbt.type_bigint() }}) as processed,
    cast(sum(case when status = 'failed' then 1 else 0 end) as {{ dbt.type_bigint() }}) as failed,
    cast(sum(case when status = 'retrying' then 1 else 0 end) as {{ dbt.type_bigint() }}) as retrying,
    cast(sum(case when retry_count > 0 then 1 else 0 end) as {{ dbt.type_bigint() }}) as retried,
    cast(sum(retry_count) as {{ dbt.type_bigint() }}) as failed_attempts,
    max(updated_at) as log_updated_at

from event_log
group by hour, event_type, source
