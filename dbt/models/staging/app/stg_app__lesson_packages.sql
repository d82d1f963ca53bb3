{{
    config(
        unique_key='lesson_package_id',
        indexes=[
            {'columns': ['lesson_package_id'], 'unique': true},
            {'columns': ['loaded_at']},
        ],
    )
}}

with

source as (

    {{ app_rows_since_last_build('lesson_packages') }}

),

renamed as (

    select
        id as lesson_package_id,
        {{ json_text('record', 'name') }} as lesson_package_name,
        cast({{ json_text('record', 'hours') }} as {{ engine_type('numeric') }}) as hours,
        -- The platform stores prices in major units (12.50), unlike Stripe's minor-unit integers.
        cast({{ json_text('record', 'price') }} as {{ engine_type('numeric') }}) as price,
        lower({{ json_text('record', 'currency') }}) as currency,
        cast({{ json_text('record', 'is_active') }} as boolean) as is_active,
        cast({{ json_text('record', 'created_at') }} as {{ engine_type('timestamptz') }}) as created_at,
        cast({{ json_text('record', 'updated_at') }} as {{ engine_type('timestamptz') }}) as updated_at,
        loaded_at

    from source

)

select * from renamed
