-- One row per event whose object is a charge, with the charge's cumulative amount_refunded as that
-- event saw it: the history int_stripe__charge_refund_increments dates refunds from (the latest state
-- is stg_stripe__charges). Events never change, so the model is append-only, like stg_stripe__events.
{{
    config(
        indexes=[
            {'columns': ['event_id'], 'unique': true},
            {'columns': ['charge_id']},
            {'columns': ['received_at']},
        ],
    )
}}

with

events as (

    select * from {{ ref('stg_stripe__events') }}
    where object_type = 'charge'
        and {{ changed_since_last_build('received_at') }}

),

charge_states as (

    select
        event_id,
        event_type,
        event_created_at,
        received_at,
        livemode,
        object_id as charge_id,
        {{ json_bigint('data_object', 'amount_refunded') }} as amount_refunded,
        {{ json_bigint('previous_attributes', 'amount_refunded') }} as previous_amount_refunded

    from events
    where {{ not_yet_in_this('events.event_id', 'event_id') }}
        -- An event without a readable amount_refunded says nothing about refunds (processing held it back).
        and {{ json_bigint('data_object', 'amount_refunded') }} is not null

)

select * from charge_states
