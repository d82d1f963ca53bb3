-- The webhook event log with each event's Stripe envelope: lag is measured from event.created.
-- Incremental: a log row changes as its event is processed, so the rows written since the last build
-- (their updated_at, stamped by the database on every write, minus the lookback) are re-read and merged
-- on event_id. Log rows are never deleted and a stored event never changes, so nothing else can go stale.
-- updated_at and received_at are indexed for webhook_health, which finds the changed hours by the one and
-- reads those hours' rows by the other.
{{
    config(
        materialized='incremental',
        incremental_strategy=payops_incremental_strategy(),
        unique_key='event_id',
        on_schema_change='append_new_columns',
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
    event_log.error_message,
    event_log.updated_at

from event_log
{%- if is_incremental() %}
-- One primary-key lookup per changed row. The planner cannot see how few rows changed (the watermark is a
-- subquery, so it guesses a third of the log) and would hash-join a scan of every stored event, payloads
-- and all; `offset 0` keeps it from flattening this lateral subquery back into that join.
cross join lateral (
    select * from events where events.event_id = event_log.event_id offset 0
) as events
{%- else %}
inner join events
    on event_log.event_id = events.event_id
{%- endif %}
