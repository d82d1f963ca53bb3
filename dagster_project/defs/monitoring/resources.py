"""Monitoring thresholds and the alert notifier, as resources the sensor and the checks share.

Every threshold has a default and can be overridden by an environment variable (whole numbers):

    PAYOPS_ALERT_MAX_LAG_P95_SECONDS     webhook lag p95 over the last hour          (default 300)
    PAYOPS_ALERT_MAX_LAG_SECONDS         slowest webhook in the last hour            (default 3600)
    PAYOPS_ALERT_MAX_SILENCE_SECONDS     time since the last webhook                 (default 21600)
    PAYOPS_ALERT_MAX_BACKLOG             events received, processing or retrying     (default 1000)
    PAYOPS_ALERT_MAX_FAILED              events that failed processing               (default 0)
    PAYOPS_ALERT_MAX_RECEIVED_MINUTES    wait in `received` before an event is stuck (default 15)
    PAYOPS_ALERT_FRESHNESS_HOURS         age of the newest stored event (asset check, default 24)

Alerts go to the log, and to PAYOPS_ALERT_WEBHOOK_URL (a Slack incoming webhook, say) when it is set.
"""

import os

import dagster as dg

from ingest.notify import DEFAULT_TIMEOUT_SECONDS, Notifier, notifier_from_settings
from ingest.webhook_health import Thresholds
from payops.settings import Settings

DEFAULTS = Thresholds()


class WebhookMonitoringResource(dg.ConfigurableResource):
    """Thresholds for the Stripe webhook feed: an alert is raised when a figure goes above its threshold."""

    max_lag_p95_seconds: int = DEFAULTS.max_lag_p95_seconds
    max_lag_seconds: int = DEFAULTS.max_lag_seconds
    max_silence_seconds: int = DEFAULTS.max_silence_seconds
    max_backlog: int = DEFAULTS.max_backlog
    max_failed: int = DEFAULTS.max_failed
    max_received_minutes: int = DEFAULTS.max_received_minutes
    freshness_hours: int = 24

    def thresholds(self) -> Thresholds:
        return Thresholds(
            max_lag_p95_seconds=self.max_lag_p95_seconds,
            max_lag_seconds=self.max_lag_seconds,
            max_silence_seconds=self.max_silence_seconds,
            max_backlog=self.max_backlog,
            max_failed=self.max_failed,
            max_received_minutes=self.max_received_minutes,
        )


THRESHOLD_VARIABLES = {
    "max_lag_p95_seconds": "PAYOPS_ALERT_MAX_LAG_P95_SECONDS",
    "max_lag_seconds": "PAYOPS_ALERT_MAX_LAG_SECONDS",
    "max_silence_seconds": "PAYOPS_ALERT_MAX_SILENCE_SECONDS",
    "max_backlog": "PAYOPS_ALERT_MAX_BACKLOG",
    "max_failed": "PAYOPS_ALERT_MAX_FAILED",
    "max_received_minutes": "PAYOPS_ALERT_MAX_RECEIVED_MINUTES",
    "freshness_hours": "PAYOPS_ALERT_FRESHNESS_HOURS",
}


class AlertNotifierResource(dg.ConfigurableResource):
    """Sends alerts to the log, and to PAYOPS_ALERT_WEBHOOK_URL when it is set."""

    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS

    def notifier(self) -> Notifier:
        return notifier_from_settings(Settings.from_env(), self.timeout_seconds)


def monitoring_from_env() -> WebhookMonitoringResource:
    """Defaults, except where a PAYOPS_ALERT_* variable is set; as EnvVar, so the UI shows which variable set it."""
    overrides = {field: dg.EnvVar.int(name) for field, name in THRESHOLD_VARIABLES.items() if os.environ.get(name)}
    return WebhookMonitoringResource(**overrides)


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(
        resources={"webhook_monitoring": monitoring_from_env(), "alert_notifier": AlertNotifierResource()}
    )
