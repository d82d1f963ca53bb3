"""raw.stripe_events' monthly partitions made ahead of time, daily, so no month's first event waits in the default
partition (where it would still be stored: this is upkeep, not a condition of ingest)."""

import dagster as dg

from dagster_project.defs.resources import WarehouseResource
from ingest.partitions import MONTHS_AHEAD, ensure_partitions


@dg.op(description=f"Make the partitions of raw.stripe_events for this month and the next {MONTHS_AHEAD}.")
def ensure_stripe_event_partitions(context: dg.OpExecutionContext, warehouse: WarehouseResource) -> None:
    made = ensure_partitions(warehouse.engine())
    context.log.info(f"{made} partition(s) of raw.stripe_events made")


@dg.job(description="Upkeep of raw.stripe_events' monthly partitions (`payops partition ensure` does the same).")
def maintain_stripe_event_partitions() -> None:
    ensure_stripe_event_partitions()


maintain_stripe_event_partitions_daily = dg.ScheduleDefinition(
    name="maintain_stripe_event_partitions_daily",
    job=maintain_stripe_event_partitions,
    cron_schedule="17 3 * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Daily: make next months' partitions of raw.stripe_events before their first event.",
)
