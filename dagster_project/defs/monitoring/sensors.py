"""The Stripe webhook feed's lag and health, measured every minute: plotted on raw.stripe_events, alerted on when
a threshold is crossed, and the processing job started when events are waiting."""

import json
from dataclasses import asdict

import dagster as dg

from dagster_project.defs.monitoring.resources import AlertNotifierResource, WebhookMonitoringResource
from dagster_project.defs.resources import WarehouseResource
from ingest.notify import Alert, Notifier
from ingest.webhook_health import WebhookHealth, evaluate, measure

# Defined in defs/ingest/processing.py (PROCESS_JOB_NAME); named here so monitoring does not import processing.
PROCESS_JOB_NAME = "process_stripe_events"
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


def notify_changes(notifier: Notifier, notified: dict[str, dict], alerts: list[Alert]) -> dict[str, dict]:
    """Send the alerts that began and resolutions of those that ended since the last tick; return the alerts
    the notifier now knows as active. An undelivered alert or resolution stays pending, to be sent next tick."""
    firing = {alert.key: alert for alert in alerts}
    now_notified = {}
    for key, alert in firing.items():
        if key in notified:
            now_notified[key] = notified[key]
        elif notifier.send(alert):
            now_notified[key] = asdict(alert)
    for key, sent in notified.items():
        if key not in firing and not notifier.send(Alert(**{**sent, "resolved": True})):
            now_notified[key] = sent
    return now_notified


def read_cursor(cursor: str | None) -> dict[str, dict]:
    try:
        return json.loads(cursor)["notified_alerts"] if cursor else {}
    except (ValueError, KeyError, TypeError):
        # A cursor from another version, or reset by hand: start afresh, at worst alerting once more.
        return {}


def processing_request(context: dg.SensorEvaluationContext, health: WebhookHealth) -> dg.RunRequest | None:
    if not health.due:
        return None
    in_flight = context.instance.get_runs(filters=dg.RunsFilter(job_name=PROCESS_JOB_NAME, statuses=IN_FLIGHT), limit=1)
    if in_flight:
        return None
    # The key changes only when new work arrives, so a finished run is not requested again for the same events.
    return dg.RunRequest(run_key=f"due-through-{health.newest_due_at.isoformat()}", job_name=PROCESS_JOB_NAME)


@dg.sensor(
    job_name=PROCESS_JOB_NAME,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Measures Stripe webhook lag and the processing queue, records them on raw.stripe_events, "
    "alerts when a threshold is crossed (once per change), and starts processing when events are waiting.",
)
def webhook_lag_sensor(
    context: dg.SensorEvaluationContext,
    warehouse: WarehouseResource,
    webhook_monitoring: WebhookMonitoringResource,
    alert_notifier: AlertNotifierResource,
) -> dg.SensorResult:
    health = measure(warehouse.engine())
    notified = notify_changes(
        alert_notifier.notifier(), read_cursor(context.cursor), evaluate(health, webhook_monitoring.thresholds())
    )
    run_request = processing_request(context, health)
    return dg.SensorResult(
        run_requests=[run_request] if run_request else None,
        skip_reason=None if run_request else f"{health.due} events due for processing",
        cursor=json.dumps({"notified_alerts": notified}),
        asset_events=[health_observation(health)],
    )
