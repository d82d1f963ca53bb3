-- One row per refund increment: a change of a captured charge's cumulative amount_refunded, dated
-- when it happened (int_stripe__charge_refund_increments), with the refund object it matches. Money
-- comes only from the charge's cumulative value, so refund.* and charge.refunded never count twice.
-- Incremental: every charge whose increments were recomputed, or whose refunds changed, since the last
-- build (minus the lookback) is rebuilt whole, replacing all its rows (delete+insert on charge_id).
{{
    config(
        materialized=incremental_where_supported(),
        unique_key='charge_id',
        indexes=[
            {'columns': ['refunded_day', 'currency', 'livemode']},
            {'columns': ['charge_id']},
        ],
    )
}}

with

{% if is_incremental() %}
changed_charges as (

    select charge_id from {{ ref('int_stripe__charge_refund_increments') }}
    where {{ changed_since_last_build('charge_updated_at') }}

    union

    select charge_id from {{ ref('stg_stripe__refunds') }}
    where {{ changed_since_last_build('state_updated_at', 'charge_updated_at') }}

),
{% endif %}

increments as (

    select
        increments.*,
        -- The n-th increment of this size and direction on the charge matches the n-th refund of it.
        row_number() over (
            partition by increments.charge_id, increments.refunded_amount_minor
            order by increments.refunded_at, increments.event_id
        ) as match_rank

    from {{ ref('int_stripe__charge_refund_increments') }} as increments
    {%- if is_incremental() %}
    where increments.charge_id in (select charge_id from changed_charges)
    {%- endif %}

),

-- A refund raises amount_refunded by its amount; a failed refund lowers it by the same amount again.
refund_movements as (

    select refund_id, charge_id, reason, status, amount as refunded_amount_minor, refund_created_at
    from {{ ref('stg_stripe__refunds') }}
    {%- if is_incremental() %}
    where charge_id in (select charge_id from changed_charges)
    {%- endif %}

    union all

    select refund_id, charge_id, reason, status, -amount as refunded_amount_minor, refund_created_at
    from {{ ref('stg_stripe__refunds') }}
    where status = 'failed'
    {%- if is_incremental() %}
        and charge_id in (select charge_id from changed_charges)
    {%- endif %}

),

ranked_refund_movements as (

    select
        *,
        row_number() over (
            partition by charge_id, refunded_amount_minor
            order by refund_created_at, refund_id
        ) as match_rank

    from refund_movements

),

currencies as (

    select * from {{ ref('currencies') }}

)

select
    increments.event_id as refund_increment_id,
    increments.charge_id,
    ranked_refund_movements.refund_id,
    increments.refunded_at,
    {{ to_reporting_day('increments.refunded_at') }} as refunded_day,
    increments.currency,
    cast(increments.refunded_amount_minor as {{ dbt.type_bigint() }}) as amount_minor,
    {{ minor_to_major('increments.refunded_amount_minor', 'currencies.exponent') }} as amount,
    ranked_refund_movements.reason,
    ranked_refund_movements.status,
    increments.livemode,
    increments.charge_updated_at

from increments
left join ranked_refund_movements
    on increments.charge_id = ranked_refund_movements.charge_id
    and increments.refunded_amount_minor = ranked_refund_movements.refunded_amount_minor
    and increments.match_rank = ranked_refund_movements.match_rank
left join currencies
    on increments.currency = currencies.currency
