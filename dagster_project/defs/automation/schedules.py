"""When the graph runs unattended. Schedules with nothing to do skip with a reason and launch no run."""

import dagster as dg

from dagster_project.defs.resources import WarehouseResource
from ingest.refreshes import last_successful_refresh_start, waiting_work

REFRESH_JOB = "refresh"
RETRY_POLICY = dg.RetryPolicy(max_retries=2, delay=30, backoff=dg.Backoff.EXPONENTIAL)
"""A step that fails (a dropped connection, a lock timeout) is retried twice, 30 s then 60 s later, before its run
fails; a failed run is then retried by the daemon (dagster.yaml run_retries) and, past that, alerts."""

# Monthly partitioned assets (compliance exports, notebook reports) are materialized per partition, never by the
# whole refresh.
PARTITIONED_GROUPS = ("exports", "reports")

refresh_job = dg.define_asset_job(
    REFRESH_JOB,
    selection=dg.AssetSelection.all() - dg.AssetSelection.groups(*PARTITIONED_GROUPS),
    op_retry_policy=RETRY_POLICY,
    description="Every asset once: land new events and app rows, process them, build the dbt models and their "
    "tests, then open or resolve the alerts the marts show.",
)


@dg.schedule(
    job=refresh_job,
    cron_schedule="0 * * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every hour: an incremental refresh, when new events, landing files or app rows have arrived.",
)
def hourly_refresh(context: dg.ScheduleEvaluationContext, warehouse: WarehouseResource):
    since = last_successful_refresh_start(warehouse.engine())
    work = waiting_work(warehouse.engine(), warehouse.app_engine(), warehouse.stripe_landing_dir, since)
    if not work:
        return dg.SkipReason(f"nothing arrived since the last successful refresh began ({since:%Y-%m-%d %H:%M} UTC)")
    return dg.RunRequest(tags={"payops/reason": "; ".join(work)[:200]})


nightly_full_build = dg.ScheduleDefinition(
    name="nightly_full_build",
    job=refresh_job,
    cron_schedule="30 2 * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    run_config=dg.RunConfig(ops={"payops_dbt_models": {"config": {"full_build": True}}}),
    description="Every night: every model rebuilt from scratch and every dbt test, unit tests included.",
)

automation = dg.AutomationConditionSensorDefinition(
    "payops_automation",
    # The notebook reports have their own sensor (report_automation); an asset belongs to one such sensor.
    target=dg.AssetSelection.all() - dg.AssetSelection.groups("reports"),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Evaluates the automation conditions: dbt models and mart alerts follow their upstream assets.",
)
