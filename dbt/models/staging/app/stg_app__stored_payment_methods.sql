{{
    config(
        unique_key='stored_payment_method_id',
        indexes=[
            {'columns': ['stored_payment_method_id'], 'unique': true},
            {'columns': ['loaded_at']},
        ],
    )
}}

with

source as (

    {{ app_rows_since_last_build('stored_payment_methods') }}

),

renamed as (

    select
        id as stored_payment_method_id,
        record ->> 'student_id' as student_id,
        record ->> 'stripe_payment_method_id' as stripe_payment_method_id,
        lower(record ->> 'card_brand') as card_brand,
        record ->> 'card_last4' as card_last4,
        cast(record ->> 'card_exp_month' as integer) as card_exp_month,
        cast(record ->> 'card_exp_year' as integer) as card_exp_year,
        cast(record ->> 'is_default' as boolean) as is_default,
        cast(record ->> 'is_active' as boolean) as is_active,
        cast(record ->> 'created_at' as timestamptz) as created_at,
        cast(record ->> 'updated_at' as timestamptz) as updated_at,
        loaded_at

    from source

)

select * from renamed
