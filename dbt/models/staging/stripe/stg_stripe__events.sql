-- The Stripe event envelope, typed: one row per event id. Events never change once stored, so the
-- model is append-only: each build adds the events received since the last one (minus the lookback)
-- that it does not hold yet.
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='append_new_columns',
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

renamed as (

    select
        event_id,
        event_type,
        api_version,
        livemode,
        created_at as event_created_at,
        object_type,
        object_id,
        to_timestamp(cast(payload -> 'data' -> 'object' ->> 'created' as bigint)) as object_created_at,
        payload -> 'data' -> 'object' as data_object,
        payload -> 'data' -> 'previous_attributes' as previous_attributes,
        payload -> 'request' ->> 'id' as request_id,
        payload -> 'request' ->> 'idempotency_key' as idempotency_key,
        received_at,
        source as ingest_channel

    from source
    where {{ not_yet_in_this('source.event_id', 'event_id') }}

)

select * from renamed
