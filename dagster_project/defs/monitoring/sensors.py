"""The Stripe webhook feed's lag and health, measured every minute: plotted on raw.stripe_events, alerted on when
a threshold is crossed, and the processing job started when events are waiting."""

import dagster as dg

from dagster_project.defs.ingest.processing import PROCESS_STRIPE_EVENTS_JOB
from dagster_project.defs.monitoring.resources import WebhookMonitoringResource
from dagster_project.defs.resources import WarehouseResource
from ingest.webhook_health import WEBHOOK_ALERT_KINDS, WebhookHealth, evaluate, measure

STRIPE_EVENTS = dg.AssetKey(["raw", "stripe_events"])
IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def health_observation(health: WebhookHealth) -> dg.AssetObservation:
    """The figures as numeric metadata, which the asset's Plots tab draws over time."""
    figures = {
        "events_last_hour": health.events_last_hour,
        "lag_p50_seconds": health.lag_p50_seconds,
        "lag_p95_seconds": health.lag_p95_seconds,
        "lag_max_seconds": health.lag_max_seconds,
        "seconds_since_last_event": health.seconds_since_last_event,
        "backlog": health.backlog,
        "received": health.received,
        "processing": health.processing,
        "retrying": health.retrying,
        "failed": health.failed,
        "oldest_received_age_seconds": health.oldest_received_age_seconds,
    }
    # A figure with nothing to measure (no webhook in the last hour) is left out rather than plotted as zero.
    return dg.AssetObservation(
        asset_key=STRIPE_EVENTS, metadata={name: value for name, value in figures.items() if value is not None}
    )


def processing_request(context: dg.SensorEvaluationContext, health: WebhookHealth) -> dg.RunRequest | None:
    if not health.due:
        return None
    in_flight = context.instance.get_runs(
        filters=dg.RunsFilter(job_name=PROCESS_STRIPE_EVENTS_JOB, statuses=IN_FLIGHT), limit=1
    )
    if in_flight:
        return None
    # The key changes only when new work arrives, so a finished run is not requested again for the same events.
    return dg.RunRequest(
        run_key=f"due-through-{health.newest_due_at.isoformat()}", job_name=PROCESS_STRIPE_EVENTS_JOB
    )


@dg.sensor(
    job_name=PROCESS_STRIPE_EVENTS_JOB,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Measures Stripe webhook lag and the processing queue, records them on raw.stripe_events, "
    "alerts when a threshold is crossed (once per open condition, ops.alert_conditions), retries undelivered "
    "alerts, and starts processing when events are waiting.",
)
def webhook_lag_sensor(
    context: dg.SensorEvaluationContext,
    warehouse: WarehouseResource,
    webhook_monitoring: WebhookMonitoringResource,
) -> dg.SensorResult:
    health = measure(warehouse.engine())
    notifier = warehouse.notifier()
    notifier.sync(WEBHOOK_ALERT_KINDS, evaluate(health, webhook_monitoring.thresholds()))
    notifier.deliver_pending()
    run_request = processing_request(context, health)
    return dg.SensorResult(
        run_requests=[run_request] if run_request else None,
        skip_reason=None if run_request else dg.SkipReason(
            "a processing run is already in flight" if health.due else "no Stripe event is due for processing"),
        asset_events=[health_observation(health)],
    )
