-- Every charge that any event describes is in fct_charges exactly once.
select events.object_id as charge_id, count(fct_charges.charge_id) as rows_in_fct_charges
from (select distinct object_id from {{ ref('stg_stripe__events') }} where object_type = 'charge') as events
left join {{ ref('fct_charges') }} as fct_charges
    on events.object_id = fct_charges.charge_id
group by events.object_id
having count(fct_charges.charge_id) <> 1
