{{
    config(
        unique_key='student_account_balance_id',
        indexes=[
            {'columns': ['student_account_balance_id'], 'unique': true},
            {'columns': ['loaded_at']},
        ],
    )
}}

with

source as (

    {{ app_rows_since_last_build('student_account_balances') }}

),

renamed as (

    select
        id as student_account_balance_id,
        {{ json_text('record', 'student_id') }} as student_id,
        cast({{ json_text('record', 'hours_purchased') }} as {{ engine_type('numeric') }}) as hours_purchased,
        cast({{ json_text('record', 'hours_consumed') }} as {{ engine_type('numeric') }}) as hours_consumed,
        cast({{ json_text('record', 'hours_purchased') }} as {{ engine_type('numeric') }}) - cast({{ json_text('record', 'hours_consumed') }} as {{ engine_type('numeric') }}) as hours_balance,
        -- Major units (12.50), as the platform stores it.
        cast({{ json_text('record', 'balance_amount') }} as {{ engine_type('numeric') }}) as balance_amount,
        lower({{ json_text('record', 'currency') }}) as currency,
        cast({{ json_text('record', 'created_at') }} as {{ engine_type('timestamptz') }}) as created_at,
        cast({{ json_text('record', 'updated_at') }} as {{ engine_type('timestamptz') }}) as updated_at,
        loaded_at

    from source

)

select * from renamed
