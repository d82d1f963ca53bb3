{{
    config(
        unique_key='family_id',
        indexes=[
            {'columns': ['family_id'], 'unique': true},
            {'columns': ['loaded_at']},
        ],
    )
}}

with

source as (

    {{ app_rows_since_last_build('families') }}

),

renamed as (

    select
        id as family_id,
        {{ json_text('record', 'name') }} as family_name,
        {{ json_text('record', 'email') }} as email,
        {{ json_text('record', 'stripe_customer_id') }} as stripe_customer_id,
        cast({{ json_text('record', 'created_at') }} as {{ engine_type('timestamptz') }}) as created_at,
        cast({{ json_text('record', 'updated_at') }} as {{ engine_type('timestamptz') }}) as updated_at,
        loaded_at

    from source

)

select * from renamed
