{{
    config(
        unique_key='purchase_transaction_id',
        indexes=[
            {'columns': ['purchase_transaction_id'], 'unique': true},
            {'columns': ['loaded_at']},
            {'columns': ['stripe_payment_intent_id']},
            {'columns': ['student_id']},
            {'columns': ['stripe_charge_id']},
            {'columns': ['created_at']},
        ],
    )
}}

with

source as (

    {{ app_rows_since_last_build('purchase_transactions') }}

),

renamed as (

    select
        id as purchase_transaction_id,
        record ->> 'student_id' as student_id,
        record ->> 'package_id' as lesson_package_id,
        record ->> 'transaction_type' as transaction_type,
        record ->> 'payment_status' as payment_status,
        cast(record ->> 'hours_purchased' as numeric) as hours_purchased,
        -- Major units (12.50), as the platform stores it; Stripe's side is in minor units.
        cast(record ->> 'amount' as numeric) as amount,
        lower(record ->> 'currency') as currency,
        record ->> 'stripe_payment_intent_id' as stripe_payment_intent_id,
        record ->> 'stripe_charge_id' as stripe_charge_id,
        record ->> 'stripe_customer_id' as stripe_customer_id,
        cast(record ->> 'livemode' as boolean) as livemode,
        cast(record ->> 'expires_at' as timestamptz) as expires_at,
        record -> 'metadata' as metadata,
        cast(record ->> 'created_at' as timestamptz) as created_at,
        cast(record ->> 'updated_at' as timestamptz) as updated_at,
        loaded_at

    from source

)

select * from renamed
