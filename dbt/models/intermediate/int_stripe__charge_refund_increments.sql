-- Refunded money as it moved: one row per charge event that changed the charge's cumulative
-- amount_refunded. Stripe sends the cumulative value, so each increment is the change from the
-- previous event in `created` order (ties: smaller cumulative value first). Duplicates and late
-- deliveries therefore cannot double count, and a failed refund lowering amount_refunded gives a
-- negative increment on its own day. refund.* events describe the same money and are not used.
-- Incremental: every charge with a new event or a new state since the last build (minus the lookback)
-- is recomputed whole (a late event can split or cancel an increment), replacing its rows.
{{
    config(
        materialized=incremental_where_supported(),
        unique_key='charge_id',
        indexes=[
            {'columns': ['event_id'], 'unique': true},
            {'columns': ['charge_id']},
            {'columns': ['charge_updated_at']},
        ],
    )
}}

with

{% if is_incremental() %}
changed_charges as (

    {{ objects_with_new_state_or_event('charge', 'charge_updated_at') }}

),
{% endif %}

-- Releasing an uncaptured authorization also sets amount_refunded, without any money moving.
captured_charges as (

    select charge_id, currency, livemode, state_updated_at
    from {{ ref('stg_stripe__charges') }}
    where captured
    {%- if is_incremental() %}
        and charge_id in (select charge_id from changed_charges)
    {%- endif %}

),

charge_events as (

    select charge_events.*
    from {{ ref('base_stripe__charge_events') }} as charge_events
    inner join captured_charges
        on charge_events.charge_id = captured_charges.charge_id

),

increments as (

    select
        charge_id,
        event_id,
        event_created_at,
        amount_refunded as cumulative_amount_refunded,
        amount_refunded - lag(amount_refunded, 1, 0) over (
            partition by charge_id
            order by event_created_at, amount_refunded, event_id
        ) as refunded_amount_minor,
        max(received_at) over (partition by charge_id) as events_received_at

    from charge_events

)

select
    increments.event_id,
    increments.charge_id,
    captured_charges.currency,
    captured_charges.livemode,
    increments.event_created_at as refunded_at,
    increments.refunded_amount_minor,
    increments.cumulative_amount_refunded,
    -- When the warehouse last heard about the charge (a new event or a new state): the watermark.
    greatest(increments.events_received_at, captured_charges.state_updated_at) as charge_updated_at

from increments
inner join captured_charges
    on increments.charge_id = captured_charges.charge_id
where increments.refunded_amount_minor <> 0
