{{
    config(
        unique_key='student_id',
        indexes=[
            {'columns': ['student_id'], 'unique': true},
            {'columns': ['loaded_at']},
            {'columns': ['family_id']},
        ],
    )
}}

with

source as (

    {{ app_rows_since_last_build('students') }}

),

renamed as (

    select
        id as student_id,
        {{ json_text('record', 'family_id') }} as family_id,
        {{ json_text('record', 'name') }} as student_name,
        {{ json_text('record', 'email') }} as email,
        cast({{ json_text('record', 'created_at') }} as {{ engine_type('timestamptz') }}) as created_at,
        cast({{ json_text('record', 'updated_at') }} as {{ engine_type('timestamptz') }}) as updated_at,
        loaded_at

    from source

)

select * from renamed
