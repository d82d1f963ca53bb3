-- Every Stripe event about a charge, for the charge's timeline in the app: the charge's own events, its refunds'
-- and its disputes' (their objects name the charge), and its payment intent's (by latest_charge). Events never
-- change once stored, so the model is append-only like stg_stripe__events: each build adds the events received
-- since the last one (minus the lookback) that it does not hold yet.
{{
    config(
        materialized=incremental_where_supported(),
        indexes=[
            {'columns': ['event_id'], 'unique': true},
            {'columns': ['charge_id', 'event_created_at']},
            {'columns': ['received_at']},
        ],
    )
}}

with

events as (

    select
        event_id,
        event_type,
        object_type,
        object_id,
        case object_type
            when 'charge' then object_id
            when 'payment_intent' then {{ json_text('data_object', 'latest_charge') }}
            else {{ json_text('data_object', 'charge') }}
        end as charge_id,
        event_created_at,
        received_at,
        ingest_channel,
        livemode

    from {{ ref('stg_stripe__events') }}
    where {{ changed_since_last_build('received_at') }}
        and {{ not_yet_in_this('event_id', 'event_id') }}

)

select * from events
where charge_id is not null
