-- Lifetime payments per student, currency and mode: money from Stripe (charges, refund increments,
-- lost disputes), purchases from the app, lesson hours from the app's balance. Students are known
-- from the charge metadata or the app purchase the charge pays.
with

charges as (

    select * from {{ ref('fct_charges') }}
    where student_id is not null

),

refunds as (

    select * from {{ ref('fct_refunds') }}

),

disputes as (

    select * from {{ ref('fct_disputes') }}

),

purchases as (

    select * from {{ ref('stg_app__purchase_transactions') }}

),

balances as (

    select * from {{ ref('stg_app__student_account_balances') }}

),

currencies as (

    select * from {{ ref('currencies') }}

),

charge_figures as (

    select
        student_id,
        currency,
        livemode,
        sum(case when status = 'succeeded' and captured then amount_captured_minor else 0 end) as gross_amount_minor,
        sum(case when status = 'failed' then 1 else 0 end) as failed_attempts,
        max(case when status = 'succeeded' and captured then created_at end) as last_payment_at

    from charges
    group by 1, 2, 3

),

refund_figures as (

    select charges.student_id, charges.currency, charges.livemode, sum(refunds.amount_minor) as refunded_amount_minor
    from refunds
    inner join charges
        on refunds.charge_id = charges.charge_id
    group by 1, 2, 3

),

dispute_figures as (

    select
        charges.student_id,
        disputes.currency,
        disputes.livemode,
        count(*) as disputes,
        sum(case when disputes.outcome = 'lost' then disputes.amount_minor else 0 end) as dispute_loss_amount_minor

    from disputes
    inner join charges
        on disputes.charge_id = charges.charge_id
    group by 1, 2, 3

),

purchase_figures as (

    select student_id, currency, livemode, count(*) as purchases
    from purchases
    group by 1, 2, 3

),

keys as (

    select student_id, currency, livemode from charge_figures
    union
    select student_id, currency, livemode from purchase_figures

),

summary as (

    select
        keys.student_id,
        keys.currency,
        keys.livemode,
        coalesce(charge_figures.gross_amount_minor, 0) as gross_amount_minor,
        coalesce(refund_figures.refunded_amount_minor, 0) as refunded_amount_minor,
        coalesce(dispute_figures.dispute_loss_amount_minor, 0) as dispute_loss_amount_minor,
        coalesce(purchase_figures.purchases, 0) as purchases,
        coalesce(charge_figures.failed_attempts, 0) as failed_attempts,
        coalesce(dispute_figures.disputes, 0) as disputes,
        charge_figures.last_payment_at

    from keys
    left join charge_figures
        on keys.student_id = charge_figures.student_id
        and keys.currency = charge_figures.currency
        and keys.livemode = charge_figures.livemode
    left join refund_figures
        on keys.student_id = refund_figures.student_id
        and keys.currency = refund_figures.currency
        and keys.livemode = refund_figures.livemode
    left join dispute_figures
        on keys.student_id = dispute_figures.student_id
        and keys.currency = dispute_figures.currency
        and keys.livemode = dispute_figures.livemode
    left join purchase_figures
        on keys.student_id = purchase_figures.student_id
        and keys.currency = purchase_figures.currency
        and keys.livemode = purchase_figures.livemode

)

select
    summary.student_id,
    summary.currency,
    summary.livemode,
    {{ money_columns('summary.gross_amount_minor', 'gross_amount') }},
    {{ money_columns('summary.refunded_amount_minor', 'refunded_amount') }},
    {{ money_columns('summary.dispute_loss_amount_minor', 'dispute_loss_amount') }},
    {{ money_columns('summary.gross_amount_minor - summary.refunded_amount_minor - summary.dispute_loss_amount_minor', 'net_amount') }},
    cast(summary.purchases as {{ dbt.type_bigint() }}) as purchases,
    cast(summary.failed_attempts as {{ dbt.type_bigint() }}) as failed_attempts,
    cast(summary.disputes as {{ dbt.type_bigint() }}) as disputes,
    -- The app keeps one balance per student, in its currency, for live-mode purchases only.
    balances.hours_purchased,
    balances.hours_balance,
    summary.last_payment_at

from summary
left join balances
    on summary.student_id = balances.student_id
    and summary.currency = balances.currency
    and summary.livemode
left join currencies
    on summary.currency = currencies.currency
