-- The webhook event log with each event's Stripe envelope: lag is measured from event.created.
-- Incremental: a log row changes as its event is processed, so the rows written since the last build
-- (their updated_at, stamped by the database on every write, minus the lookback) are re-read and merged
-- on event_id. Log rows are never deleted and a stored event never changes, so nothing else can go stale.
-- updated_at and received_at are indexed for webhook_health, which finds the changed hours by the one and
-- reads those hours' rows by the other.
{{
    config(
        unique_key='event_id',
        indexes=[
            {'columns': ['event_id'], 'unique': true},
            {'columns': ['updated_at']},
            {'columns': ['received_at']},
        ],
    )
}}

with

event_log as (

    select * from {{ source('ops', 'webhook_event_log') }}
    where {{ changed_since_last_build('updated_at') }}

),

events as (

    select event_id, event_type, livemode, created_at as event_created_at, source
    from {{ source('stripe', 'events') }}

)

select
    event_log.event_id,
    events.event_type,
    events.livemode,
    -- How the event arrived: webhook, replay (files) or events_api (the gap-filling sync).
    events.source,
    event_log.status,
    events.event_created_at,
    event_log.received_at,
    event_log.processing_started_at,
    event_log.processed_at,
    event_log.processing_ms,
    event_log.retry_count,
    event_log.error_message,
    event_log.updated_at

from event_log
inner join events
    on event_log.event_id = events.event_id
