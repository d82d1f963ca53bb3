-- Rebuilt whole on every build (not the staging layer's incremental default): two dozen packages, read through
-- app_rows' key, cost less whole than a delete+insert of the changed ones (docs/decisions.md §17).
{{ config(materialized='table', indexes=[{'columns': ['lesson_package_id'], 'unique': true}]) }}

with

source as (

    select * from {{ source('app', 'app_rows') }}
    where source_table = 'lesson_packages'

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
