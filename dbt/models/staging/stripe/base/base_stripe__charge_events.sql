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
        cast(data_object ->> 'amount_refunded' as bigint) as amount_refunded,
        cast(previous_attributes ->> 'amount_refunded' as bigint) as previous_amount_refunded

    from events
    where {{ not_yet_in_this('events.event_id', 'event_id') }}

)

select * from charge_states
