{{ config(meta={'dagster': {'ref': {'name': 'payments_daily'}}}) }}  -- a Dagster asset check on payments_daily
-- payments_daily neither loses nor invents charges: per currency and livemode, its gross equals
-- the captured amount of succeeded, captured charges in staging, and its attempts equal the
-- number of distinct charges. A row here is a (currency, livemode) that does not add up.
with

charge_totals as (

    select
        currency,
        livemode,
        sum(case when status = 'succeeded' and captured then amount_captured else 0 end) as gross_amount_minor,
        -- count(*), not count(distinct charge_id): the model's unique index already makes them equal, and the
        -- distinct sorted every charge on every build.
        count(*) as charge_attempts

    from {{ ref('stg_stripe__charges') }}
    group by currency, livemode

),

mart_totals as (

    select
        currency,
        livemode,
        sum(gross_amount_minor) as gross_amount_minor,
        sum(charge_attempts) as charge_attempts

    from {{ ref('payments_daily') }}
    group by currency, livemode

)

select
    coalesce(charge_totals.currency, mart_totals.currency) as currency,
    coalesce(charge_totals.livemode, mart_totals.livemode) as livemode,
    charge_totals.gross_amount_minor as staged_gross_amount_minor,
    mart_totals.gross_amount_minor as mart_gross_amount_minor,
    charge_totals.charge_attempts as staged_charge_attempts,
    mart_totals.charge_attempts as mart_charge_attempts

from charge_totals
full outer join mart_totals
    on charge_totals.currency = mart_totals.currency
    and charge_totals.livemode = mart_totals.livemode
where coalesce(charge_totals.gross_amount_minor, 0) <> coalesce(mart_totals.gross_amount_minor, 0)
    or coalesce(charge_totals.charge_attempts, 0) <> coalesce(mart_totals.charge_attempts, 0)
