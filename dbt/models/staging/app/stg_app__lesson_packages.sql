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
        record ->> 'name' as lesson_package_name,
        cast(record ->> 'hours' as numeric) as hours,
        -- The platform stores prices in major units (12.50), unlike Stripe's minor-unit integers.
        cast(record ->> 'price' as numeric) as price,
        lower(record ->> 'currency') as currency,
        cast(record ->> 'is_active' as boolean) as is_active,
        cast(record ->> 'created_at' as timestamptz) as created_at,
        cast(record ->> 'updated_at' as timestamptz) as updated_at,
        loaded_at

    from source

)

select * from renamed
