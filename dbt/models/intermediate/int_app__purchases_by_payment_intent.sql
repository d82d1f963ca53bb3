-- The platform's purchase for each Stripe payment intent: how a charge or intent without purchase
-- metadata still finds its purchase and student. A view: the incremental marts filter it to the intents
-- they rebuild (is_one_of), a filter Postgres pushes below the grouping into the purchases' index on
-- stripe_payment_intent_id, where a table would be regrouped whole on every build.
{{ config(materialized='view') }}

select
    stripe_payment_intent_id as payment_intent_id,
    min(purchase_transaction_id) as purchase_transaction_id,
    min(student_id) as student_id

from {{ ref('stg_app__purchase_transactions') }}
where stripe_payment_intent_id is not null
group by stripe_payment_intent_id
