-- Daily payment volumes per currency and mode (see docs/decisions.md for every definition).
-- Dense: each (currency, livemode) series runs from its first activity day to the last reporting
-- day, zero-filled. Amounts are summed in minor units and converted once, at the end.
with

charges as (

    select * from {{ ref('stg_stripe__charges') }}

),

refund_increments as (

    select * from {{ ref('int_stripe__charge_refund_increments') }}

),

dispute_closures as (

    select * from {{ ref('int_stripe__dispute_closures') }}

),

dispute_balance_transactions as (

    select * from {{ ref('stg_stripe__dispute_balance_transactions') }}

),

reporting_days as (

    select * from {{ ref('int_stripe__reporting_days') }}

),

currencies as (

    select * from {{ ref('currencies') }}

),

charges_by_day as (

    select
        {{ to_reporting_day('charge_created_at') }} as day,
        currency,
        livemode,
        count(*) as charge_attempts,
        sum(case when status = 'succeeded' then 1 else 0 end) as charges_succeeded,
        sum(case when status = 'failed' then 1 else 0 end) as charges_failed,
        sum(case when status = 'succeeded' and captured then amount_captured else 0 end) as gross_amount_minor

    from charges
    group by 1, 2, 3

),

refunds_by_day as (

    select
        {{ to_reporting_day('refunded_at') }} as day,
        currency,
        livemode,
        sum(refunded_amount_minor) as refunded_amount_minor

    from refund_increments
    group by 1, 2, 3

),

dispute_losses_by_day as (

    select
        {{ to_reporting_day('closed_at') }} as day,
        currency,
        livemode,
        sum(amount) as dispute_loss_amount_minor

    from dispute_closures
    where outcome = 'lost'
    group by 1, 2, 3

),

dispute_fees_by_day as (

    select
        {{ to_reporting_day('balance_transaction_created_at') }} as day,
        currency,
        livemode,
        sum(fee) as dispute_fee_amount_minor

    from dispute_balance_transactions
    group by 1, 2, 3

),

{%- set daily_aggregates = ['charges_by_day', 'refunds_by_day', 'dispute_losses_by_day', 'dispute_fees_by_day'] %}

activity_days as (

    {%- for aggregate in daily_aggregates %}
    select day, currency, livemode from {{ aggregate }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

),

series as (

    select
        currency,
        livemode,
        min(day) as first_day

    from activity_days
    group by currency, livemode

),

series_days as (

    select
        reporting_days.day,
        series.currency,
        series.livemode

    from series
    inner join reporting_days
        on reporting_days.day >= series.first_day

),

daily_minor as (

    select
        series_days.day,
        series_days.currency,
        series_days.livemode,
        coalesce(charges_by_day.charge_attempts, 0) as charge_attempts,
        coalesce(charges_by_day.charges_succeeded, 0) as charges_succeeded,
        coalesce(charges_by_day.charges_failed, 0) as charges_failed,
        coalesce(charges_by_day.gross_amount_minor, 0) as gross_amount_minor,
        coalesce(refunds_by_day.refunded_amount_minor, 0) as refunded_amount_minor,
        coalesce(dispute_losses_by_day.dispute_loss_amount_minor, 0) as dispute_loss_amount_minor,
        coalesce(dispute_fees_by_day.dispute_fee_amount_minor, 0) as dispute_fee_amount_minor

    from series_days
    {%- for aggregate in daily_aggregates %}
    left join {{ aggregate }}
        on series_days.day = {{ aggregate }}.day
        and series_days.currency = {{ aggregate }}.currency
        and series_days.livemode = {{ aggregate }}.livemode
    {%- endfor %}

),

with_net as (

    select
        *,
        gross_amount_minor - refunded_amount_minor - dispute_loss_amount_minor as net_amount_minor

    from daily_minor

)

select
    with_net.day,
    with_net.currency,
    with_net.livemode,
    cast(with_net.charge_attempts as {{ dbt.type_bigint() }}) as charge_attempts,
    cast(with_net.charges_succeeded as {{ dbt.type_bigint() }}) as charges_succeeded,
    cast(with_net.charges_failed as {{ dbt.type_bigint() }}) as charges_failed,
    round(
        cast(with_net.charges_succeeded as {{ dbt.type_numeric() }}) / nullif(with_net.charge_attempts, 0), 4
    ) as attempt_success_rate,
    {%- for measure in ['gross', 'refunded', 'dispute_loss', 'net', 'dispute_fee'] %}
    {{ minor_to_major('with_net.' ~ measure ~ '_amount_minor', 'currencies.exponent') }} as {{ measure }}_amount,
    cast(with_net.{{ measure }}_amount_minor as {{ dbt.type_bigint() }}) as {{ measure }}_amount_minor
    {%- if not loop.last %},{% endif %}
    {%- endfor %}

from with_net
left join currencies
    on with_net.currency = currencies.currency
