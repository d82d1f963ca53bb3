{#- reconciliation_exceptions is incremental per purchase and per charge. A purchase's exceptions depend on the
    purchase, the charge it is matched with, its payment intent and, while it is in flight, on the newest Stripe
    event (the grace); a charge's `missing_in_app` row on the charge and on whether its purchase exists. Since the
    last build (its rows' `checked_at`, minus the lookback) these changed:
      - purchases the app copied again, or that name a changed charge or payment intent (stripe_charge_id,
        stripe_payment_intent_id; a changed charge's intent names it too), or that a changed charge names
        (the newest-charge fallback);
      - purchases that could have left the grace since: created after the newest event of the last build
        (`checked_against_event_at`) minus the grace;
      - charges that changed, and charges naming a purchase the app copied again (a purchase that appears
        resolves `missing_in_app`; no other change of a purchase decides whether it exists).
    The pre-hook lists both once, in temporary tables, and deletes their rows; the model appends theirs again. A
    table without a row to hold the watermark is recomputed whole. A change of the currencies seed needs a full
    refresh. -#}
{% macro reconciliation_affected_purchases_table() -%}
    pg_temp.reconciliation_exceptions__affected_purchases
{%- endmacro %}

{% macro reconciliation_affected_charges_table() -%}
    pg_temp.reconciliation_exceptions__affected_charges
{%- endmacro %}

{% macro reconciliation_replace_changed() -%}
    {%- if is_incremental() -%}
    create temporary table {{ reconciliation_affected_purchases_table() }} on commit drop as
    with

    changed_charges as (

        select charge_id, payment_intent_id from {{ ref('stg_stripe__charges') }}
        where {{ changed_since_last_build('state_updated_at', 'checked_at') }}

    ),

    changed_payment_intent_ids as (

        select payment_intent_id from changed_charges where payment_intent_id is not null
        union
        select payment_intent_id from {{ ref('stg_stripe__payment_intents') }}
        where {{ changed_since_last_build('state_updated_at', 'checked_at') }}

    ),

    -- Not materialized: each branch below finds its few purchases by its own index.
    purchases as not materialized (

        select * from {{ ref('stg_app__purchase_transactions') }}

    )

    select purchase_transaction_id from purchases
    where {{ changed_since_last_build('loaded_at', 'checked_at') }}
        or {{ changed_since_last_build(
            'created_at', 'checked_against_event_at', extra_minutes=var('reconciliation_pending_grace_hours') * 60
        ) }}
    union
    select purchase_transaction_id from purchases
    where {{ is_one_of('stripe_charge_id', 'select charge_id from changed_charges') }}
    union
    select purchase_transaction_id from purchases
    where {{ is_one_of('stripe_payment_intent_id', 'select payment_intent_id from changed_payment_intent_ids') }}
    union
    select purchase_transaction_id from {{ ref('fct_charges') }}
    where {{ is_one_of('charge_id', 'select charge_id from changed_charges') }} and purchase_transaction_id is not null;

    analyze {{ reconciliation_affected_purchases_table() }};

    create temporary table {{ reconciliation_affected_charges_table() }} on commit drop as
    select charge_id from {{ ref('stg_stripe__charges') }}
    where {{ changed_since_last_build('state_updated_at', 'checked_at') }}
    union
    select charge_id from {{ ref('fct_charges') }}
    where purchase_transaction_id in (
        select purchase_transaction_id from {{ ref('stg_app__purchase_transactions') }}
        where {{ changed_since_last_build('loaded_at', 'checked_at') }}
    );

    analyze {{ reconciliation_affected_charges_table() }};

    delete from {{ this }}
    where (
        kind <> 'missing_in_app'
        and purchase_transaction_id in (select purchase_transaction_id from {{ reconciliation_affected_purchases_table() }})
    ) or (
        kind = 'missing_in_app'
        and charge_id in (select charge_id from {{ reconciliation_affected_charges_table() }})
    )
    {%- endif -%}
{%- endmacro %}
