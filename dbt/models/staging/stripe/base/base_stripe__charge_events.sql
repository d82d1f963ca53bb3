-- One row per event whose object is a charge: the charge as that event saw it.
with

events as (

    select * from {{ ref('stg_stripe__events') }}
    where object_type = 'charge'

),

charge_states as (

    select
        event_id,
        event_type,
        event_created_at,
        received_at,
        livemode,
        object_id as charge_id,
        data_object ->> 'payment_intent' as payment_intent_id,
        data_object ->> 'customer' as customer_id,
        data_object ->> 'status' as status,
        {{ stripe_status_rank("data_object ->> 'status'", 'charge') }} as status_rank,
        cast(data_object ->> 'captured' as boolean) as captured,
        cast(data_object ->> 'amount' as bigint) as amount,
        cast(data_object ->> 'amount_captured' as bigint) as amount_captured,
        cast(data_object ->> 'amount_refunded' as bigint) as amount_refunded,
        cast(previous_attributes ->> 'amount_refunded' as bigint) as previous_amount_refunded,
        lower(data_object ->> 'currency') as currency,
        cast(data_object ->> 'disputed' as boolean) as disputed,
        data_object ->> 'failure_code' as failure_code,
        data_object -> 'outcome' ->> 'type' as outcome_type,
        data_object -> 'outcome' ->> 'reason' as outcome_reason,
        data_object -> 'outcome' ->> 'risk_level' as risk_level,
        cast(data_object -> 'outcome' ->> 'risk_score' as integer) as risk_score,
        -- Stripe's decline code of an issuer decline is outcome.reason; other outcomes have none.
        case
            when data_object -> 'outcome' ->> 'type' = 'issuer_declined'
                then data_object -> 'outcome' ->> 'reason'
        end as decline_code,
        data_object ->> 'payment_method' as payment_method_id,
        data_object -> 'payment_method_details' ->> 'type' as payment_method_type,
        lower(data_object -> 'payment_method_details' -> 'card' ->> 'brand') as card_brand,
        upper(data_object -> 'payment_method_details' -> 'card' ->> 'country') as card_country,
        data_object -> 'payment_method_details' -> 'card' ->> 'funding' as card_funding,
        data_object -> 'payment_method_details' -> 'card' ->> 'fingerprint' as card_fingerprint,
        data_object ->> 'balance_transaction' as balance_transaction_id,
        data_object -> 'metadata' ->> 'purchase_transaction_id' as purchase_transaction_id,
        data_object -> 'metadata' ->> 'student_id' as student_id,
        object_created_at as charge_created_at

    from events

)

select * from charge_states
