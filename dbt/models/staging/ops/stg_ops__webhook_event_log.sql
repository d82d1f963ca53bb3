-- The webhook event log with each event's Stripe envelope: lag is measured from event.created.
with

event_log as (

    select * from {{ source('ops', 'webhook_event_log') }}

),

events as (

    select event_id, event_type, livemode, created_at as event_created_at
    from {{ source('stripe', 'events') }}

)

select
    event_log.event_id,
    events.event_type,
    events.livemode,
    event_log.status,
    events.event_created_at,
    event_log.received_at,
    event_log.processing_started_at,
    event_log.processed_at,
    event_log.processing_ms,
    event_log.retry_count,
    event_log.error_message

from event_log
inner join events
    on event_log.event_id = events.event_id
