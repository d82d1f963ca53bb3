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

-- The payload is read once per row: each `->` on a compressed jsonb value decompresses all of it again.
renamed as (

    select
        source.event_id,
        source.event_type,
        source.api_version,
        source.livemode,
        source.created_at as event_created_at,
        source.object_type,
        source.object_id,
        {{ json_unix_timestamp("event.data -> 'object' -> 'created'") }} as object_created_at,
        event.data -> 'object' as data_object,
        event.data -> 'previous_attributes' as previous_attributes,
        event.request ->> 'id' as request_id,
        event.request ->> 'idempotency_key' as idempotency_key,
        source.received_at,
        source.source as ingest_channel

    from source
    cross join lateral jsonb_to_record(source.payload) as event (data jsonb, request jsonb)
    where {{ not_yet_in_this('source.event_id', 'event_id') }}

)

select * from renamed
