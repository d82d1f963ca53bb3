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
        {{ json_text('record', 'student_id') }} as student_id,
        {{ json_text('record', 'stripe_payment_method_id') }} as stripe_payment_method_id,
        lower({{ json_text('record', 'card_brand') }}) as card_brand,
        {{ json_text('record', 'card_last4') }} as card_last4,
        cast({{ json_text('record', 'card_exp_month') }} as integer) as card_exp_month,
        cast({{ json_text('record', 'card_exp_year') }} as integer) as card_exp_year,
        cast({{ json_text('record', 'is_default') }} as boolean) as is_default,
        cast({{ json_text('record', 'is_active') }} as boolean) as is_active,
        cast({{ json_text('record', 'created_at') }} as {{ engine_type('timestamptz') }}) as created_at,
        cast({{ json_text('record', 'updated_at') }} as {{ engine_type('timestamptz') }}) as updated_at,
        loaded_at

    from source

)

select * from renamed
