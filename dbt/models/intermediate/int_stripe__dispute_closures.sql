-- Every closed dispute with its outcome and closing time: the first event that showed the final
-- status the dispute still has. One row per dispute (dispute grain, never per charge).
with

dispute_events as (

    select * from {{ ref('base_stripe__dispute_events') }}

),

closed_disputes as (

    select * from {{ ref('stg_stripe__disputes') }}
    where is_closed

),

first_seen_statuses as (

    select
        dispute_id,
        status,
        min(event_created_at) as first_seen_at

    from dispute_events
    group by dispute_id, status

)

select
    closed_disputes.dispute_id,
    closed_disputes.charge_id,
    closed_disputes.livemode,
    closed_disputes.status as outcome,
    closed_disputes.amount,
    closed_disputes.currency,
    first_seen_statuses.first_seen_at as closed_at

from closed_disputes
inner join first_seen_statuses
    on closed_disputes.dispute_id = first_seen_statuses.dispute_id
    and closed_disputes.status = first_seen_statuses.status
