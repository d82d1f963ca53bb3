{{ config(meta={'dagster': {'ref': {'name': 'payments_daily'}}}) }}  -- a Dagster asset check on payments_daily
-- payments_daily's attempts, gross and refunds, summed per currency and mode, equal the same sums
-- over fct_charges and fct_refunds: the daily mart neither loses nor invents a charge or a refund.
with

daily as (

    select currency, livemode,
        sum(charge_attempts) as charge_attempts,
        sum(gross_amount_minor) as gross_amount_minor,
        sum(refunded_amount_minor) as refunded_amount_minor
    from {{ ref('payments_daily') }}
    group by 1, 2

),

charges as (

    select currency, livemode,
        count(*) as charge_attempts,
        sum(case when status = 'succeeded' and captured then amount_captured_minor else 0 end) as gross_amount_minor
    from {{ ref('fct_charges') }}
    group by 1, 2

),

refunds as (

    select currency, livemode, sum(amount_minor) as refunded_amount_minor
    from {{ ref('fct_refunds') }}
    group by 1, 2

)

select daily.*, charges.charge_attempts as fct_attempts, charges.gross_amount_minor as fct_gross,
    refunds.refunded_amount_minor as fct_refunded
from daily
full outer join charges
    on daily.currency = charges.currency and daily.livemode = charges.livemode
left join refunds
    on coalesce(daily.currency, charges.currency) = refunds.currency
    and coalesce(daily.livemode, charges.livemode) = refunds.livemode
where daily.charge_attempts is distinct from charges.charge_attempts
    or daily.gross_amount_minor is distinct from charges.gross_amount_minor
    or daily.refunded_amount_minor is distinct from coalesce(refunds.refunded_amount_minor, 0)
