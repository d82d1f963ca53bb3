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
        record ->> 'family_id' as family_id,
        record ->> 'name' as student_name,
        record ->> 'email' as email,
        cast(record ->> 'created_at' as timestamptz) as created_at,
        cast(record ->> 'updated_at' as timestamptz) as updated_at,
        loaded_at

    from source

)

select * from renamed
