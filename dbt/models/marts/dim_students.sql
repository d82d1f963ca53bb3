-- Who a student is, for finding them and their charges: the student and the family that pays (the family holds
-- the Stripe customer). Personal data the app shows to signed-in users only.
with

students as (

    select * from {{ ref('stg_app__students') }}

),

families as (

    select * from {{ ref('stg_app__families') }}

)

select
    students.student_id,
    students.student_name,
    lower(students.email) as student_email,
    students.family_id,
    families.family_name,
    lower(families.email) as family_email,
    families.stripe_customer_id

from students
left join families
    on students.family_id = families.family_id
