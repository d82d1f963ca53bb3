-- One row per event whose object is a dispute (charge.dispute.*), with the status that event saw: the
-- history int_stripe__dispute_closures dates closings from (the latest state is stg_stripe__disputes).
-- Events never change, so the model is append-only, like stg_stripe__events.
{{
    config(
        indexes=[
            {'columns': ['event_id'], 'unique': true},
            {'columns': ['dispute_id']},
        ],
    )
}}

with

events as (

    select * from {{ ref('stg_stripe__events') }}
    where object_type = 'dispute'
        and {{ changed_since_last_build('received_at') }}

),

dispute_states as (

    select
        event_id,
        event_type,
        event_created_at,
        received_at,
        livemode,
        object_id as dispute_id,
        {{ json_text('data_object', 'status') }} as status

    from events
    where {{ not_yet_in_this('events.event_id', 'event_id') }}

)

select * from dispute_states
