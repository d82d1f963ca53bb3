with

source as (

    select * from {{ source('stripe', 'events') }}

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

)

select * from renamed
