{{
    config(
        unique_key='receipt_id',
        indexes=[
            {'columns': ['receipt_id'], 'unique': true},
            {'columns': ['loaded_at']},
        ],
    )
}}

with

source as (

    {{ app_rows_since_last_build('receipts') }}

),

renamed as (

    select
        id as receipt_id,
        record ->> 'student_id' as student_id,
        record ->> 'transaction_id' as purchase_transaction_id,
        record ->> 'receipt_number' as receipt_number,
        -- Major units, as the platform stores it.
        cast(record ->> 'amount' as numeric) as amount,
        lower(record ->> 'currency') as currency,
        cast(record ->> 'generated_at' as timestamptz) as generated_at,
        cast(record ->> 'is_valid' as boolean) as is_valid,
        cast(record ->> 'created_at' as timestamptz) as created_at,
        cast(record ->> 'updated_at' as timestamptz) as updated_at,
        loaded_at

    from source

)

select * from renamed
