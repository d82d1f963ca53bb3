{{ config(meta={'dagster': {'ref': {'name': 'fct_charges'}}}) }}  -- a Dagster asset check on fct_charges
-- Every charge that any event describes is in fct_charges; its unique index on charge_id keeps it
-- there at most once. Read from the charge-event history (indexed on charge_id), not the million
-- events of every type. Events processing held back (ingest/validation.py) never reach the marts.
select distinct charge_events.charge_id
from {{ ref('base_stripe__charge_events') }} as charge_events
where not exists (
    select 1 from {{ ref('fct_charges') }} as fct_charges
    where fct_charges.charge_id = charge_events.charge_id
)
    and not {{ held_back('charge_events.event_id') }}
