-- Stripe events processing held back as `failed` (ingest/validation.py, or a payload Postgres refused), with
-- the reason naming the field and its value: what the Webhooks page lists, and what `payops webhooks retry`
-- brings back once the cause is fixed. A table, built with the log's copy: finding its few failed rows scans every
-- row of the log (0.7 s at 3.4 M events), once per build rather than on each visit of the Webhooks and System
-- health pages.

with

event_log as (

    select * from {{ ref('stg_ops__webhook_event_log') }}
    where status = 'failed'

),

events as (

    select event_id, object_type, object_id from {{ ref('stg_stripe__events') }}

)

select
    event_log.event_id,
    event_log.event_type,
    events.object_type,
    events.object_id,
    event_log.livemode,
    event_log.error_message as error,
    event_log.retry_count as attempts,
    event_log.received_at,
    event_log.processing_started_at as last_attempt_at

from event_log
left join events
    on event_log.event_id = events.event_id
