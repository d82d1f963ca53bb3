-- Every dispute that any event describes is in fct_disputes exactly once.
select events.object_id as dispute_id, count(fct_disputes.dispute_id) as rows_in_fct_disputes
from (select distinct object_id from {{ ref('stg_stripe__events') }} where object_type = 'dispute') as events
left join {{ ref('fct_disputes') }} as fct_disputes
    on events.object_id = fct_disputes.dispute_id
group by events.object_id
having count(fct_disputes.dispute_id) <> 1
