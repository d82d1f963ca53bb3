"""Stripe's Events API as a safety net for missed webhooks, synced every 15 minutes."""

import dagster as dg

from dagster_project.defs.resources import WarehouseResource
from ingest.stripe_sync import NO_KEY_MESSAGE, sync_events


@dg.asset(
    key=["raw", "stripe_events_from_api"],
    group_name="ingest",
    kinds={"python", "stripe", "postgres"},
    description=(
        "Fills gaps in raw.stripe_events from Stripe's Events API (the last 30 days): events that webhooks "
        "missed are stored with source 'events_api', deduplicated on the event id. Skipped without STRIPE_API_KEY."
    ),
)
def stripe_events_from_api(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    result = sync_events(warehouse.settings(), warehouse.engine())
    if result.skipped:
        context.log.info(result.message)
    for warning in result.warnings:
        context.log.warning(warning)
    return dg.MaterializeResult(
        metadata={
            "skipped": result.skipped,
            "listed": result.listed,
            "loaded": result.loaded,
            "duplicates": result.duplicates,
            "rejected": result.rejected,
            "window_start": str(result.window_start),
            "cursor_before": str(result.cursor_before),
            "cursor_after": str(result.cursor_after),
            "warnings": len(result.warnings),
        }
    )


stripe_events_sync_job = dg.define_asset_job("stripe_events_sync", selection=[stripe_events_from_api])


@dg.schedule(
    job=stripe_events_sync_job,
    cron_schedule="*/15 * * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every 15 minutes: fetch events that webhooks missed from Stripe's Events API; skips without a key.",
)
def stripe_events_sync(context: dg.ScheduleEvaluationContext, warehouse: WarehouseResource):
    if not warehouse.settings().stripe_api_key:
        return dg.SkipReason(NO_KEY_MESSAGE)
    return dg.RunRequest()
