-- Lifetime payments per student, currency and mode: money from Stripe (charges, refund increments,
-- lost disputes), purchases from the app, lesson hours from the app's balance. Students are known
-- from the charge metadata or the app purchase the charge pays.
-- Incremental: a student any of whose charges, refund increments, disputes, purchases or balance changed
-- since the last build (minus the lookback) is recomputed whole. delete+insert on student_id replaces all the
-- student's rows, so a (currency, mode) row the student no longer has goes too. Stripe and the app keep
-- separate loads, so each has its own watermark column, both arrival in the warehouse: Stripe's state
-- updates, and the app rows' `loaded_at` (when `payops ingest app` copied them).
{{
    config(
        materialized=incremental_where_supported(),
        unique_key='student_id',
        indexes=[
            {'columns': ['student_id', 'currency', 'livemode'], 'unique': true},
            {'columns': ['state_updated_at']},
            {'columns': ['app_loaded_at']},
        ],
    )
}}

-- depends_on: {{ ref('stg_stripe__charges') }}
-- depends_on: {{ ref('stg_stripe__disputes') }}

with

{% if is_incremental() %}
-- Stripe's side, per charge: a new state (found in stg_stripe__charges, which holds fct_charges' state_updated_at
-- with an index), recomputed refund increments, a changed dispute (fct_disputes keeps no watermark; what this
-- model reads of it comes from the dispute's state).
changed_charges as (

    select charge_id from {{ ref('stg_stripe__charges') }}
    where {{ changed_since_last_build('state_updated_at') }}

    union

    select charge_id from {{ ref('fct_refunds') }}
    where {{ changed_since_last_build('charge_updated_at', 'state_updated_at') }}

    union

    select charge_id from {{ ref('stg_stripe__disputes') }}
    where {{ changed_since_last_build('state_updated_at') }}

),

-- A charge counts for the student fct_charges names now. Were a charge ever moved to another student (through
-- the app purchase fct_charges falls back on; Stripe metadata and a purchase's student do not change), its old
-- student's figures would wait for a full refresh: nothing upstream remembers the old student.
changed_students as (

    select student_id from {{ ref('fct_charges') }}
    where {{ is_one_of('charge_id', 'select charge_id from changed_charges') }}

    union

    select student_id from {{ ref('stg_app__purchase_transactions') }}
    where {{ changed_since_last_build('loaded_at', 'app_loaded_at') }}

    union

    select student_id from {{ ref('stg_app__student_account_balances') }}
    where {{ changed_since_last_build('loaded_at', 'app_loaded_at') }}

),
{% endif %}

-- The columns read below only: read three times, the CTE is materialized, and every column of a few tens of
-- thousands of charges spilled it to disk.
charges as (

    select charge_id, student_id, currency, livemode, status, captured, amount_captured_minor, created_at, state_updated_at
    from {{ ref('fct_charges') }}
    where student_id is not null
    {%- if is_incremental() %}
        and student_id in (select student_id from changed_students)
    {%- endif %}

),

refunds as (

    select * from {{ ref('fct_refunds') }}

),

disputes as (

    select * from {{ ref('fct_disputes') }}

),

purchases as (

    select * from {{ ref('stg_app__purchase_transactions') }}
    {%- if is_incremental() %}
    where student_id in (select student_id from changed_students)
    {%- endif %}

),

balances as (

    select * from {{ ref('stg_app__student_account_balances') }}
    {%- if is_incremental() %}
    where student_id in (select student_id from changed_students)
    {%- endif %}

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
        max(case when status = 'succeeded' and captured then created_at end) as last_payment_at,
        max(state_updated_at) as charges_updated_at

    from charges
    group by 1, 2, 3

),

refund_figures as (

    select
        charges.student_id,
        charges.currency,
        charges.livemode,
        sum(refunds.amount_minor) as refunded_amount_minor,
        max(refunds.charge_updated_at) as refunds_updated_at

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

    select student_id, currency, livemode, count(*) as purchases, max(loaded_at) as purchases_loaded_at
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
        charge_figures.last_payment_at,
        greatest(charge_figures.charges_updated_at, refund_figures.refunds_updated_at) as state_updated_at,
        purchase_figures.purchases_loaded_at

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
    summary.last_payment_at,
    -- Dispute states are not folded in: a watermark older than what was read only makes the next build re-read more.
    summary.state_updated_at,
    greatest(summary.purchases_loaded_at, balances.loaded_at) as app_loaded_at

from summary
left join balances
    on summary.student_id = balances.student_id
    and summary.currency = balances.currency
    and summary.livemode
left join currencies
    on summary.currency = currencies.currency
