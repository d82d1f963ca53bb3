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
        {{ json_text('record', 'student_id') }} as student_id,
        {{ json_text('record', 'package_id') }} as lesson_package_id,
        {{ json_text('record', 'transaction_type') }} as transaction_type,
        {{ json_text('record', 'payment_status') }} as payment_status,
        cast({{ json_text('record', 'hours_purchased') }} as {{ engine_type('numeric') }}) as hours_purchased,
        -- Major units (12.50), as the platform stores it; Stripe's side is in minor units.
        cast({{ json_text('record', 'amount') }} as {{ engine_type('numeric') }}) as amount,
        lower({{ json_text('record', 'currency') }}) as currency,
        {{ json_text('record', 'stripe_payment_intent_id') }} as stripe_payment_intent_id,
        {{ json_text('record', 'stripe_charge_id') }} as stripe_charge_id,
        {{ json_text('record', 'stripe_customer_id') }} as stripe_customer_id,
        cast({{ json_text('record', 'livemode') }} as boolean) as livemode,
        cast({{ json_text('record', 'expires_at') }} as {{ engine_type('timestamptz') }}) as expires_at,
        {{ json_value('record', 'metadata') }} as metadata,
        cast({{ json_text('record', 'created_at') }} as {{ engine_type('timestamptz') }}) as created_at,
        cast({{ json_text('record', 'updated_at') }} as {{ engine_type('timestamptz') }}) as updated_at,
        loaded_at

    from source

)

select * from renamed
