"""Stripe's balance transactions and payout itemizations: listed from the API on a schedule, or, without a key,
loaded from what the demo generator listed ahead of time."""

import os

import dagster as dg

from dagster_project.defs.resources import WarehouseResource
from ingest.stripe_balance import NO_KEY_MESSAGE, load_balance_landing, sync_balance

BALANCE_TRANSACTIONS = dg.AssetKey(["raw", "stripe_api_balance_transactions"])
PAYOUT_ITEMIZATIONS = dg.AssetKey(["raw", "stripe_payout_balance_transactions"])


@dg.multi_asset(
    name="stripe_balance",
    specs=[
        dg.AssetSpec(
            BALANCE_TRANSACTIONS,
            group_name="finance",
            kinds={"python", "stripe", "postgres"},
            description="Every balance transaction (GET /v1/balance_transactions since the cursor, with an "
            "overlap), one row per txn id. Without STRIPE_API_KEY: the landing folder's, if any.",
        ),
        dg.AssetSpec(
            PAYOUT_ITEMIZATIONS,
            # Itemizes the payouts that processing has seen end.
            deps=[dg.AssetKey(["raw", "stripe_payouts"])],
            group_name="finance",
            kinds={"python", "stripe", "postgres"},
            description="Which balance transactions each paid or failed automatic payout carried "
            "(GET /v1/balance_transactions?payout=po_…).",
        ),
    ],
)
def stripe_balance(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    settings = warehouse.settings()
    if settings.stripe_api_key:
        result = sync_balance(settings, warehouse.engine())
    else:
        context.log.info(f"{NO_KEY_MESSAGE}; loading {settings.stripe_balance_landing_dir} instead")
        result = load_balance_landing(warehouse.engine(), settings.stripe_balance_landing_dir)
    context.log.info(result.summary())
    yield dg.MaterializeResult(asset_key=BALANCE_TRANSACTIONS, metadata={
        "listed": result.listed, "new": result.new, "changed": result.changed,
        "cursor_after": str(result.cursor_after),
    })
    yield dg.MaterializeResult(asset_key=PAYOUT_ITEMIZATIONS, metadata={
        "payouts_itemized": result.payouts_itemized, "itemized_transactions": result.itemized_transactions,
    })


stripe_balance_job = dg.define_asset_job(
    "stripe_balance_sync", selection=dg.AssetSelection.assets(BALANCE_TRANSACTIONS, PAYOUT_ITEMIZATIONS),
    description="List new balance transactions from Stripe and itemize the payouts that ended.",
)


@dg.schedule(job=stripe_balance_job, cron_schedule="*/30 * * * *",
             default_status=dg.DefaultScheduleStatus.RUNNING,
             description="Every 30 minutes: balance transactions and payout itemizations from Stripe's API.")
def stripe_balance_sync_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    if not os.environ.get("STRIPE_API_KEY"):
        return dg.SkipReason(NO_KEY_MESSAGE)
    return dg.RunRequest()
