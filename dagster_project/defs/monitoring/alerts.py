"""Alerts from the marts after each build, and alerts on runs that failed past their retries."""

import dagster as dg

from dagster_project.defs.resources import WarehouseResource
from dagster_project.environment import RUN_RETRIES
from ingest.mart_alerts import MART_ALERT_KINDS, mart_alerts
from ingest.notify import Alert

ALERTED_MARTS = ("fct_disputes", "failure_analysis", "reconciliation_exceptions", "dispute_metrics")


@dg.asset(
    key=["ops", "alert_conditions"],
    group_name="monitoring",
    kinds={"python", "postgres"},
    deps=[dg.AssetKey(["analytics", mart]) for mart in ALERTED_MARTS],
    automation_condition=dg.AutomationCondition.eager(),
    description="Opens and resolves the alert conditions the marts show (new disputes, evidence due within 48 h, "
    "failure spikes, reconciliation exceptions, dispute ratios at 80 % of a network threshold) and delivers the "
    "changes. A channel that is down is recorded and retried later; it never fails this asset or the refresh.",
)
def mart_alert_conditions(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    notifier = warehouse.notifier()
    result = notifier.sync(MART_ALERT_KINDS, mart_alerts(warehouse.engine()))
    # Every message whose last attempt failed, this pass's included: they wait for their back-off.
    undelivered = notifier.deliver_pending()
    if undelivered:
        context.log.warning(f"{undelivered} alert message(s) not delivered yet; see the Notifications page")
    return dg.MaterializeResult(metadata={"opened": len(result.opened), "resolved": len(result.resolved),
                                          "undelivered": undelivered})


def refresh_failed_key(job_name: str) -> str:
    return f"refresh_failed:{job_name}"


@dg.run_failure_sensor(
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Alerts through the notifier when a run failed past its retry policy (run_retries in dagster.yaml).",
)
def run_failure_alert(context: dg.RunFailureSensorContext, warehouse: WarehouseResource):
    run = context.dagster_run
    retry_number = int(run.tags.get("dagster/retry_number", "0"))
    max_retries = int(run.tags.get("dagster/max_retries", RUN_RETRIES))
    if retry_number < max_retries:
        return dg.SkipReason(f"run {run.run_id} failed; retry {retry_number + 1} of {max_retries} follows")
    warehouse.notifier().open(Alert(
        refresh_failed_key(run.job_name), "error",
        f"{run.job_name} failed after {retry_number} retries: {context.failure_event.message or 'see Dagster'}",
        details={"run_id": run.run_id},
    ))
    return None


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Resolves a job's failed-refresh alert when a run of it succeeds.",
)
def run_success_resolves_alert(context: dg.RunStatusSensorContext, warehouse: WarehouseResource):
    warehouse.notifier().resolve(refresh_failed_key(context.dagster_run.job_name))
