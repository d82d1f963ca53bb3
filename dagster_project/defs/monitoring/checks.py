"""Checks on raw.stripe_events that run with every materialization of it: events keep arriving (against the one
freshness policy), and none waits unprocessed for long."""

from datetime import UTC, datetime, timedelta

import dagster as dg

from dagster_project.defs.monitoring.resources import WebhookMonitoringResource
from dagster_project.defs.monitoring.sensors import STRIPE_EVENTS
from dagster_project.defs.resources import WarehouseResource
from ingest.freshness import freshness_policy
from ingest.webhook_health import newest_received_at, stuck_in_received

SEVERITY = {"warn": dg.AssetCheckSeverity.WARN, "error": dg.AssetCheckSeverity.ERROR}


@dg.asset_check(
    asset=STRIPE_EVENTS,
    description="The newest stored Stripe event, from any source, is within the freshness policy: a warning past "
    "its warn age, an error past its error age (dbt_project.yml vars freshness_warn_hours, freshness_error_hours).",
)
def stripe_events_fresh(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    policy = freshness_policy()
    newest = newest_received_at(warehouse.engine())
    age = None if newest is None else datetime.now(UTC) - newest
    status = policy.status(age)
    metadata = {"warn_after_hours": policy.warn_after.total_seconds() / 3600,
                "error_after_hours": policy.error_after.total_seconds() / 3600}
    if newest is not None:
        metadata |= {"newest_received_at": dg.MetadataValue.timestamp(newest),
                     "age_hours": round(age.total_seconds() / 3600, 2)}
    return dg.AssetCheckResult(passed=status == "ok", severity=SEVERITY.get(status, dg.AssetCheckSeverity.WARN),
                               metadata=metadata)


@dg.asset_check(
    asset=STRIPE_EVENTS,
    description="No stored Stripe event has waited in `received` for longer than max_received_minutes.",
)
def no_stripe_event_stuck_in_received(
    warehouse: WarehouseResource, webhook_monitoring: WebhookMonitoringResource
) -> dg.AssetCheckResult:
    stuck = stuck_in_received(warehouse.engine(), timedelta(minutes=webhook_monitoring.max_received_minutes))
    metadata = {"stuck_events": stuck.count, "max_received_minutes": webhook_monitoring.max_received_minutes}
    if stuck.oldest_received_at is not None:
        metadata["oldest_received_at"] = dg.MetadataValue.timestamp(stuck.oldest_received_at)
    return dg.AssetCheckResult(passed=stuck.count == 0, severity=dg.AssetCheckSeverity.ERROR, metadata=metadata)
