"""Monitoring thresholds as a resource the sensor shares; every one can be overridden by its PAYOPS_ALERT_*
variable (ingest/webhook_health.py THRESHOLD_VARIABLES). Where alerts go is PAYOPS_HOME/payops.toml (ingest/notify.py).
"""

import os

import dagster as dg

from ingest.webhook_health import THRESHOLD_VARIABLES, Thresholds

DEFAULTS = Thresholds()


class WebhookMonitoringResource(dg.ConfigurableResource):
    """Thresholds for the Stripe webhook feed: an alert is raised when a figure goes above its threshold."""

    max_lag_p95_seconds: int = DEFAULTS.max_lag_p95_seconds
    max_lag_seconds: int = DEFAULTS.max_lag_seconds
    max_silence_seconds: int = DEFAULTS.max_silence_seconds
    max_backlog: int = DEFAULTS.max_backlog
    max_failed: int = DEFAULTS.max_failed
    max_received_minutes: int = DEFAULTS.max_received_minutes

    def thresholds(self) -> Thresholds:
        return Thresholds(**{name: getattr(self, name) for name in THRESHOLD_VARIABLES})


def monitoring_from_env() -> WebhookMonitoringResource:
    """Defaults, except where a PAYOPS_ALERT_* variable is set; as EnvVar, so the UI shows which variable set it."""
    overrides = {field: dg.EnvVar.int(name) for field, name in THRESHOLD_VARIABLES.items() if os.environ.get(name)}
    return WebhookMonitoringResource(**overrides)


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources={"webhook_monitoring": monitoring_from_env()})
