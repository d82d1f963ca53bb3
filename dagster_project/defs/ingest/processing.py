"""The Stripe state tables: stored events processed into the latest state of each object."""

import dagster as dg

from dagster_project.defs.resources import WarehouseResource
from ingest.processing import STATE_TABLES, held_back, process_pending

PROCESS_STRIPE_EVENTS_JOB = "process_stripe_events"
STATE_TABLE_KEYS = {table.table: dg.AssetKey(["raw", table.table]) for table in STATE_TABLES}


@dg.multi_asset(
    name="stripe_state_tables",
    specs=[
        dg.AssetSpec(
            key,
            deps=[dg.AssetKey(["raw", "stripe_events"])],
            group_name="ingest",
            kinds={"python", "postgres"},
            description=f"Latest state of each object in raw.{table}, by event created, never arrival; "
            "written by processing the due events of ops.webhook_event_log.",
        )
        for table, key in STATE_TABLE_KEYS.items()
    ],
)
def stripe_state_tables(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    with warehouse.refresh_lock(context.log):
        result = process_pending(warehouse.engine())
    context.log.info(result.summary())
    if result.failed:
        context.log.warning(f"{result.failed} event(s) failed for good: see ops.failed_webhook_events, then "
                            "`payops webhooks retry`")
    shared = {
        "processed": result.processed,
        "retrying": result.retrying,
        "failed": result.failed,
        "events_per_second": round(result.events_per_second, 1),
    }
    for table, key in STATE_TABLE_KEYS.items():
        yield dg.MaterializeResult(asset_key=key, metadata={**shared, "rows_written": result.rows_written[table]})


@dg.asset_check(
    asset=STATE_TABLE_KEYS["stripe_charges"],
    additional_deps=list(STATE_TABLE_KEYS.values())[1:],
    description="No Stripe event is held back from the state tables (failed: an object the models cannot read, "
    "or one Postgres refused). Held-back events reach no mart until fixed and `payops webhooks retry`.",
)
def no_stripe_event_held_back(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    found = held_back(warehouse.engine())
    return dg.AssetCheckResult(
        passed=found.count == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"held_back": found.count,
                  "latest": dg.MetadataValue.md("\n".join(f"- `{e}`: {error}" for e, error in found.sample) or "none")},
    )


process_stripe_events_job = dg.define_asset_job(
    PROCESS_STRIPE_EVENTS_JOB,
    selection=dg.AssetSelection.assets(*STATE_TABLE_KEYS.values()),
    description="Process every due Stripe event into the state tables (launched when the webhook log has a backlog).",
)
