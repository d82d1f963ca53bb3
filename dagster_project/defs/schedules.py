"""When the graph runs unattended."""

import dagster as dg

# Partitioned assets (monthly exports) are materialized per partition, never by the whole-graph refresh.
REFRESH_SELECTION = dg.AssetSelection.all() - dg.AssetSelection.groups("exports")

hourly_refresh = dg.ScheduleDefinition(
    name="hourly_refresh",
    target=REFRESH_SELECTION,
    cron_schedule="0 * * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every hour: land new Stripe events and app rows, then rebuild the dbt models and run their tests.",
)
