-- Daily payment volumes per currency and mode (see docs/decisions.md for every definition).
-- Dense: each (currency, livemode) series runs from its first activity day to the last reporting
-- day, zero-filled. Amounts are summed in minor units and converted once, at the end.
-- Incremental: every reporting day something it counts arrived for since the last build (minus the lookback) is
-- recomputed whole, all its currencies and modes (delete+insert on day); decision 17 lists which days those are.
{{
    config(
        materialized=incremental_where_supported(),
        unique_key='day',
    )
}}

-- depends_on: {{ ref('base_stripe__charge_events') }}
-- depends_on: {{ ref('base_stripe__dispute_events') }}

with

reporting_days as (

    select * from {{ ref('int_stripe__reporting_days') }}

),

{% if is_incremental() -%}
-- Charges with a new state or a new event: a charge counts on the day it was created, and its refund increments on
-- days of its events, which a late event can move among.
changed_charges as (

    {{ objects_with_new_state_or_event('charge', 'sources_updated_at') }}

),

changed_charge_days as (

    select currency, livemode, {{ to_reporting_day('charge_created_at') }} as day
    from {{ ref('stg_stripe__charges') }}
    where {{ is_one_of('charge_id', 'select charge_id from changed_charges') }}

    union

    select charges.currency, charges.livemode, {{ to_reporting_day('charge_events.event_created_at') }}
    from {{ ref('base_stripe__charge_events') }} as charge_events
    inner join {{ ref('stg_stripe__charges') }} as charges
        on charge_events.charge_id = charges.charge_id
    where {{ is_one_of('charge_events.charge_id', 'select charge_id from changed_charges') }}

),

-- A dispute with a new state or event can change its loss and fees on days of its events, and whether it is open,
-- hence the exposure, on every day from its opening to the last.
changed_disputes as (

    {{ objects_with_new_state_or_event('dispute', 'sources_updated_at') }}

),

changed_dispute_spans as (

    select
        disputes.currency,
        disputes.livemode,
        least(
            {{ to_reporting_day('disputes.dispute_created_at') }},
            min({{ to_reporting_day('dispute_events.event_created_at') }})
        ) as first_day

    from {{ ref('stg_stripe__disputes') }} as disputes
    left join {{ ref('base_stripe__dispute_events') }} as dispute_events
        on disputes.dispute_id = dispute_events.dispute_id
    where {{ is_one_of('disputes.dispute_id', 'select dispute_id from changed_disputes') }}
    group by disputes.dispute_id, disputes.currency, disputes.livemode, disputes.dispute_created_at

),

built_series as (

    select currency, livemode, min(day) as first_day
    from {{ this }}
    group by currency, livemode

),

-- A series that starts earlier than before, or is new, gains zero-filled days up to its old start, or to the last.
changed_series as (

    select currency, livemode, min(day) as first_day
    from (
        select currency, livemode, day from changed_charge_days
        union all
        select currency, livemode, first_day from changed_dispute_spans
    ) as changed_activity
    group by currency, livemode

),

recomputed_days as (

    select day from changed_charge_days

    union

    select {{ to_reporting_day('payment_intent_created_at') }} from {{ ref('stg_stripe__payment_intents') }}
    where {{ changed_since_last_build('state_updated_at', 'sources_updated_at') }}

    union

    select reporting_days.day
    from changed_dispute_spans
    inner join reporting_days
        on reporting_days.day >= changed_dispute_spans.first_day

    union

    select reporting_days.day
    from changed_series
    left join built_series
        on changed_series.currency = built_series.currency
        and changed_series.livemode = built_series.livemode
    inner join reporting_days
        on reporting_days.day >= changed_series.first_day
        and (built_series.first_day is null or reporting_days.day < built_series.first_day)

    union

    -- The calendar grew.
    select day from reporting_days
    where day > (select max(day) from {{ this }})

    union

    -- Balance transactions arrive apart from events (Stripe's API, not webhooks): new or changed ones redo their day.
    select day from {{ ref('int_stripe__settlement_by_payment_day') }}
    where {{ changed_since_last_build('state_updated_at', 'sources_updated_at') }}

),

{% endif -%}
charges as (

    select * from {{ ref('stg_stripe__charges') }}
    {%- if is_incremental() %}
    where {{ to_reporting_day('charge_created_at') }} in (select day from recomputed_days)
    {%- endif %}

),

refund_increments as (

    select * from {{ ref('int_stripe__charge_refund_increments') }}
    {%- if is_incremental() %}
    where {{ to_reporting_day('refunded_at') }} in (select day from recomputed_days)
    {%- endif %}

),

dispute_closures as (

    select * from {{ ref('int_stripe__dispute_closures') }}

),

dispute_balance_transactions as (

    select * from {{ ref('stg_stripe__dispute_balance_transactions') }}

),

currencies as (

    select * from {{ ref('currencies') }}

),

settlement as (

    select * from {{ ref('int_stripe__settlement_by_payment_day') }}
    {%- if is_incremental() %}
    where day in (select day from recomputed_days)
    {%- endif %}

),

-- The account settles in one currency: it names the settlement columns of days without a transaction too.
account as (

    select min(currency) as settlement_currency
    from {{ ref('stg_stripe__balance_transactions') }}
    where livemode

),

payment_intents as (

    select * from {{ ref('stg_stripe__payment_intents') }}
    {%- if is_incremental() %}
    where {{ to_reporting_day('payment_intent_created_at') }} in (select day from recomputed_days)
    {%- endif %}

),

disputes as (

    select * from {{ ref('stg_stripe__disputes') }}

),

charges_by_day as (

    select
        {{ to_reporting_day('charge_created_at') }} as day,
        currency,
        livemode,
        count(*) as charge_attempts,
        sum(case when status = 'succeeded' then 1 else 0 end) as charges_succeeded,
        sum(case when status = 'failed' then 1 else 0 end) as charges_failed,
        sum(case when status = 'succeeded' and captured then amount_captured else 0 end) as gross_amount_minor,
        -- Transaction values: succeeded, captured charges; the median is the lower middle value, an
        -- amount some charge really had, so it stays a whole minor-unit amount.
        round(avg(case when status = 'succeeded' and captured then amount_captured end)) as avg_transaction_value_minor,
        percentile_disc(0.5) within group (
            order by case when status = 'succeeded' and captured then amount_captured end
        ) as median_transaction_value_minor

    from charges
    group by 1, 2, 3

),

intents_by_day as (

    select
        {{ to_reporting_day('payment_intent_created_at') }} as day,
        currency,
        livemode,
        count(*) as payment_intents,
        sum(case when status = 'succeeded' then 1 else 0 end) as payment_intents_succeeded

    from payment_intents
    group by 1, 2, 3

),

dispute_spans as (

    select
        disputes.currency,
        disputes.livemode,
        disputes.amount,
        {{ to_reporting_day('disputes.dispute_created_at') }} as opened_day,
        {{ to_reporting_day('dispute_closures.closed_at') }} as closed_day

    from disputes
    left join dispute_closures
        on disputes.dispute_id = dispute_closures.dispute_id

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

settlement_by_day as (

    select
        day,
        currency,
        livemode,
        sum(settlement_gross_minor) as settlement_gross_minor,
        sum(fee_minor) as fee_minor,
        sum(settlement_refunded_minor) as settlement_refunded_minor,
        sum(settlement_dispute_loss_minor) as settlement_dispute_loss_minor

    from settlement
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

    from (
        select day, currency, livemode from activity_days
        {%- if is_incremental() %}
        -- Activity of the days not recomputed is as it was: no charge, hence no series' first day, ever goes away.
        union all
        select first_day, currency, livemode from built_series
        {%- endif %}
    ) as activity
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
    {%- if is_incremental() %}
    where reporting_days.day in (select day from recomputed_days)
    {%- endif %}

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
        coalesce(dispute_fees_by_day.dispute_fee_amount_minor, 0) as dispute_fee_amount_minor,
        charges_by_day.avg_transaction_value_minor,
        charges_by_day.median_transaction_value_minor,
        intents_by_day.payment_intents,
        intents_by_day.payment_intents_succeeded,
        coalesce(settlement_by_day.settlement_gross_minor, 0) as settlement_gross_amount_minor,
        coalesce(settlement_by_day.fee_minor, 0) as fee_amount_minor,
        coalesce(settlement_by_day.settlement_refunded_minor, 0) as settlement_refunded_minor,
        coalesce(settlement_by_day.settlement_dispute_loss_minor, 0) as settlement_dispute_loss_minor

    from series_days
    {%- for aggregate in daily_aggregates %}
    left join {{ aggregate }}
        on series_days.day = {{ aggregate }}.day
        and series_days.currency = {{ aggregate }}.currency
        and series_days.livemode = {{ aggregate }}.livemode
    {%- endfor %}
    left join intents_by_day
        on series_days.day = intents_by_day.day
        and series_days.currency = intents_by_day.currency
        and series_days.livemode = intents_by_day.livemode
    left join settlement_by_day
        on series_days.day = settlement_by_day.day
        and series_days.currency = settlement_by_day.currency
        and series_days.livemode = settlement_by_day.livemode

),

-- Disputes open at the end of the day: opened on or before it, not closed by then (inquiries included).
open_dispute_exposure as (

    select
        series_days.day,
        series_days.currency,
        series_days.livemode,
        sum(dispute_spans.amount) as open_dispute_exposure_minor

    from series_days
    inner join dispute_spans
        on series_days.currency = dispute_spans.currency
        and series_days.livemode = dispute_spans.livemode
        and dispute_spans.opened_day <= series_days.day
        and (dispute_spans.closed_day is null or dispute_spans.closed_day > series_days.day)
    group by 1, 2, 3

),

with_net as (

    select
        *,
        gross_amount_minor - refunded_amount_minor - dispute_loss_amount_minor as net_amount_minor,
        settlement_gross_amount_minor - settlement_refunded_minor - settlement_dispute_loss_minor
            as settlement_net_amount_minor

    from daily_minor

),

-- Bookkeeping: the newest arrival among the inputs when the build ran, the next build's watermark.
sources as (

    select greatest(
        (select max(state_updated_at) from {{ ref('stg_stripe__charges') }}),
        (select max(received_at) from {{ ref('base_stripe__charge_events') }}),
        (select max(state_updated_at) from {{ ref('stg_stripe__payment_intents') }}),
        (select max(state_updated_at) from {{ ref('stg_stripe__disputes') }}),
        (select max(received_at) from {{ ref('base_stripe__dispute_events') }}),
        (select max(state_updated_at) from {{ ref('int_stripe__settlement_by_payment_day') }})
    ) as sources_updated_at

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
    cast(with_net.{{ measure }}_amount_minor as {{ dbt.type_bigint() }}) as {{ measure }}_amount_minor,
    {%- endfor %}
    {{ safe_ratio('with_net.payment_intents_succeeded', 'with_net.payment_intents') }} as intent_success_rate,
    {{ money_columns('with_net.avg_transaction_value_minor', 'avg_transaction_value') }},
    {{ money_columns('with_net.median_transaction_value_minor', 'median_transaction_value') }},
    {{ minor_to_major('coalesce(open_dispute_exposure.open_dispute_exposure_minor, 0)', 'currencies.exponent') }} as open_dispute_exposure_amount,
    cast(coalesce(open_dispute_exposure.open_dispute_exposure_minor, 0) as {{ dbt.type_bigint() }}) as open_dispute_exposure_minor,
    account.settlement_currency,
    {%- for measure in ['settlement_gross', 'settlement_net', 'fee'] %}
    {{ money_columns('with_net.' ~ measure ~ '_amount_minor', measure ~ '_amount', 'settlement.exponent') }},
    {%- endfor %}
    {{ money_columns('with_net.settlement_net_amount_minor - with_net.fee_amount_minor', 'net_after_fees_amount', 'settlement.exponent') }},
    sources.sources_updated_at

from with_net
cross join sources
cross join account
left join currencies
    on with_net.currency = currencies.currency
left join currencies as settlement
    on account.settlement_currency = settlement.currency
left join open_dispute_exposure
    on with_net.day = open_dispute_exposure.day
    and with_net.currency = open_dispute_exposure.currency
    and with_net.livemode = open_dispute_exposure.livemode
