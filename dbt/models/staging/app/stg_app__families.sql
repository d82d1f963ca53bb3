with

source as (

    select * from {{ source('app', 'app_rows') }}
    where source_table = 'families'

),

renamed as (

    select
        id as family_id,
        record ->> 'name' as family_name,
        record ->> 'email' as email,
        record ->> 'stripe_customer_id' as stripe_customer_id,
        cast(record ->> 'created_at' as timestamptz) as created_at,
        cast(record ->> 'updated_at' as timestamptz) as updated_at

    from source

)

select * from renamed
