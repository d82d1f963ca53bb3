{{ config(meta={'dagster': {'ref': {'name': 'fct_disputes'}}}) }}  -- a Dagster asset check on fct_disputes
-- Every dispute that any event describes is in fct_disputes exactly once. Read from the dispute-event
-- history, not the million events of every type. Events processing held back never reach the marts.
select dispute_events.dispute_id, count(fct_disputes.dispute_id) as rows_in_fct_disputes
from (
    select distinct dispute_id from {{ ref('base_stripe__dispute_events') }} as events
    where not {{ held_back('events.event_id') }}
) as dispute_events
left join {{ ref('fct_disputes') }} as fct_disputes
    on dispute_events.dispute_id = fct_disputes.dispute_id
group by dispute_events.dispute_id
having count(fct_disputes.dispute_id) <> 1
