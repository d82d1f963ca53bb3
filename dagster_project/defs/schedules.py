"""When the graph runs unattended."""

import dagster as dg

hourly_refresh = dg.ScheduleDefinition(
    name="hourly_refresh",
    # The month-partitioned reports follow the marts through their automation condition, not this schedule.
    target=dg.AssetSelection.all() - dg.AssetSelection.groups("reports"),
    cron_schedule="0 * * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every hour: land new Stripe events and app rows, then rebuild the dbt models and run their tests.",
)
