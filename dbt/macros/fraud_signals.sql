{#- fraud_signals is incremental per customer: a customer's rows depend on all its charges and disputes, so
    every customer with a charge or dispute changed since the last build is recomputed whole.

    The one definition of those customers: customers of fct_charges rows and of disputes
    (stg_stripe__disputes rows, with fct_disputes' customer) whose state the warehouse received since
    fraud_signals' newest `source_updated_at` minus the lookback (changed_since_last_build). A charge never
    moves from one customer to another (Stripe only sets a missing customer), so the new states name every
    customer whose rows they change. -#}
{% macro fraud_signals_changed_customers() -%}
    select charges.customer_id
    from {{ ref('fct_charges') }} as charges
    where charges.customer_id is not null
        and {{ changed_since_last_build('charges.state_updated_at', 'source_updated_at') }}

    union

    select disputes.customer_id
    from {{ ref('stg_stripe__disputes') }} as dispute_states
    inner join {{ ref('fct_disputes') }} as disputes
        on dispute_states.dispute_id = disputes.dispute_id
    where disputes.customer_id is not null
        and {{ changed_since_last_build('dispute_states.state_updated_at', 'source_updated_at') }}
{%- endmacro %}

{#- The session's temporary table of the customers an incremental build of fraud_signals recomputes. -#}
{% macro fraud_signals_affected_customers_table() -%}
    pg_temp.fraud_signals__affected_customers
{%- endmacro %}

{#- fraud_signals' pre-hook, inside dbt's transaction. On an incremental build it lists the changed customers
    once, in a temporary table dropped at commit, and deletes all their rows; the model then appends their
    recomputed rows, read from the same table. dbt's delete+insert would only delete customers that still
    have a row, leaving stale rows of a customer whose rules no longer fire; and evaluating the customer list
    again after this delete would move the watermark (the deleted rows hold the newest source_updated_at).
    Nothing on a full build. -#}
{% macro fraud_signals_replace_changed_customers() -%}
    {%- if is_incremental() -%}
    create temporary table {{ fraud_signals_affected_customers_table() }} on commit drop as
    {{ fraud_signals_changed_customers() }};

    analyze {{ fraud_signals_affected_customers_table() }};

    delete from {{ this }}
    where customer_id in (select customer_id from {{ fraud_signals_affected_customers_table() }})
    {%- endif -%}
{%- endmacro %}
