-- The Stripe event envelope, typed: one row per event id. Events never change once stored, so the
-- model is append-only: each build adds the events received since the last one (minus the lookback)
-- that it does not hold yet.
{{
    config(
        indexes=[
            {'columns': ['event_id'], 'unique': true},
            {'columns': ['received_at']},
            {'columns': ['event_created_at']},
            {'columns': ['object_created_at']},
        ],
    )
}}

with

source as (

    select * from {{ source('stripe', 'events') }}
    where {{ changed_since_last_build('received_at') }}

),

-- The payload is read once per row (json_record).
renamed as (

    select
        source.event_id,
        source.event_type,
        source.api_version,
        source.livemode,
        source.created_at as event_created_at,
        source.object_type,
        source.object_id,
        {{ json_unix_timestamp('event.data', 'object.created') }} as object_created_at,
        {{ json_value('event.data', 'object') }} as data_object,
        {{ json_value('event.data', 'previous_attributes') }} as previous_attributes,
        {{ json_text('event.request', 'id') }} as request_id,
        {{ json_text('event.request', 'idempotency_key') }} as idempotency_key,
        source.received_at,
        source.source as ingest_channel

    from source
    {{ json_record('source.payload', 'event', {'data': 'jsonb', 'request': 'jsonb'}) }}
    where {{ not_yet_in_this('source.event_id', 'event_id') }}

)

select * from renamed
