-- One row: when the marts were last built and how new the data they were built from was. Every page of the app
-- shows it, so nobody mistakes an old build for the present.
select
    {{ dbt.current_timestamp() }} as built_at,
    (select max(event_created_at) from {{ ref('stg_stripe__events') }}) as newest_event_created_at,
    (select max(received_at) from {{ ref('stg_stripe__events') }}) as newest_event_received_at
