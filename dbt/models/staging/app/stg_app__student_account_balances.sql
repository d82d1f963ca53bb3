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
        record ->> 'student_id' as student_id,
        cast(record ->> 'hours_purchased' as numeric) as hours_purchased,
        cast(record ->> 'hours_consumed' as numeric) as hours_consumed,
        cast(record ->> 'hours_purchased' as numeric) - cast(record ->> 'hours_consumed' as numeric) as hours_balance,
        -- Major units (12.50), as the platform stores it.
        cast(record ->> 'balance_amount' as numeric) as balance_amount,
        lower(record ->> 'currency') as currency,
        cast(record ->> 'created_at' as timestamptz) as created_at,
        cast(record ->> 'updated_at' as timestamptz) as updated_at,
        loaded_at

    from source

)

select * from renamed
