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
        record ->> 'name' as family_name,
        record ->> 'email' as email,
        record ->> 'stripe_customer_id' as stripe_customer_id,
        cast(record ->> 'created_at' as timestamptz) as created_at,
        cast(record ->> 'updated_at' as timestamptz) as updated_at,
        loaded_at

    from source

)

select * from renamed
