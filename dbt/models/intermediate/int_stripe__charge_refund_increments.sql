-- Refunded money as it moved: one row per charge event that changed the charge's cumulative
-- amount_refunded. Stripe sends the cumulative value, so each increment is the change from the
-- previous event in `created` order (ties: smaller cumulative value first). Duplicates and late
-- deliveries therefore cannot double count, and a failed refund lowering amount_refunded gives a
-- negative increment on its own day. refund.* events describe the same money and are not used.
with

charge_events as (

    select * from {{ ref('base_stripe__charge_events') }}

),

-- Releasing an uncaptured authorization also sets amount_refunded, without any money moving.
captured_charges as (

    select charge_id, currency, livemode
    from {{ ref('stg_stripe__charges') }}
    where captured

),

increments as (

    select
        charge_events.charge_id,
        charge_events.event_id,
        charge_events.event_created_at,
        charge_events.amount_refunded as cumulative_amount_refunded,
        charge_events.amount_refunded - lag(charge_events.amount_refunded, 1, 0) over (
            partition by charge_events.charge_id
            order by charge_events.event_created_at, charge_events.amount_refunded, charge_events.event_id
        ) as refunded_amount_minor

    from charge_events
    inner join captured_charges
        on charge_events.charge_id = captured_charges.charge_id

)

select
    increments.event_id,
    increments.charge_id,
    captured_charges.currency,
    captured_charges.livemode,
    increments.event_created_at as refunded_at,
    increments.refunded_amount_minor,
    increments.cumulative_amount_refunded

from increments
inner join captured_charges
    on increments.charge_id = captured_charges.charge_id
where increments.refunded_amount_minor <> 0
