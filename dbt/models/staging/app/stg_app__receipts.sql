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
        {{ json_text('record', 'student_id') }} as student_id,
        {{ json_text('record', 'transaction_id') }} as purchase_transaction_id,
        {{ json_text('record', 'receipt_number') }} as receipt_number,
        -- Major units, as the platform stores it.
        cast({{ json_text('record', 'amount') }} as {{ engine_type('numeric') }}) as amount,
        lower({{ json_text('record', 'currency') }}) as currency,
        cast({{ json_text('record', 'generated_at') }} as {{ engine_type('timestamptz') }}) as generated_at,
        cast({{ json_text('record', 'is_valid') }} as boolean) as is_valid,
        cast({{ json_text('record', 'created_at') }} as {{ engine_type('timestamptz') }}) as created_at,
        cast({{ json_text('record', 'updated_at') }} as {{ engine_type('timestamptz') }}) as updated_at,
        loaded_at

    from source

)

select * from renamed
