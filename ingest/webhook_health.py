"""Is the Stripe webhook feed healthy? Lag, silence and the processing queue, measured in Postgres.

`measure` reads the figures; `evaluate` turns them into alerts against configurable thresholds.

Lag and silence count webhook deliveries only: a replay or an Events API sync stores events long after
Stripe created them by design, and a webhook endpoint that went quiet is exactly what silence must reveal
even while a sync keeps filling the table. The processing queue (backlog, failed, retrying) covers every
source, since every stored event goes through the same processing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from ingest.notify import Alert
from payops.settings import SettingsError

WEBHOOK_SOURCE = "webhook"
LAG_WINDOW = timedelta(hours=1)

# Queue figures read only rows in the partial indexes on waiting and failed events, never the whole log.
MEASURE = sa.text("""
with clock as (select coalesce(cast(:now as timestamptz), now()) as now),
recent_lag as (
    select extract(epoch from log.received_at - events.created_at)::float8 as lag_seconds
    from ops.webhook_event_log log
    join raw.stripe_events events using (event_id)
    cross join clock
    where events.source = :source
      and log.received_at > clock.now - :window
      and log.received_at <= clock.now
),
lag as (
    select count(*) as events_last_hour,
           percentile_cont(0.5) within group (order by lag_seconds) as lag_p50_seconds,
           percentile_cont(0.95) within group (order by lag_seconds) as lag_p95_seconds,
           max(lag_seconds) as lag_max_seconds
    from recent_lag
),
queue as (
    select count(*) filter (where status = 'received') as received,
           count(*) filter (where status = 'processing') as processing,
           count(*) filter (where status = 'retrying') as retrying,
           count(*) filter (where status = 'retrying' and next_retry_at <= clock.now) as retrying_due,
           min(received_at) filter (where status = 'received') as oldest_received_at,
           greatest(max(received_at) filter (where status = 'received'),
                    max(next_retry_at) filter (where status = 'retrying' and next_retry_at <= clock.now))
               as newest_due_at
    from ops.webhook_event_log
    cross join clock
    where status in ('received', 'processing', 'retrying')
)
select clock.now as measured_at, lag.*, queue.*,
       (select count(*) from ops.webhook_event_log where status = 'failed') as failed,
       (select max(received_at) from raw.stripe_events where source = :source) as last_received_at
from clock, lag, queue
""")

STUCK_IN_RECEIVED = sa.text("""
select count(*) as count, min(received_at) as oldest_received_at
from ops.webhook_event_log
where status = 'received' and received_at < coalesce(cast(:now as timestamptz), now()) - :older_than
""")


@dataclass(frozen=True)
class WebhookHealth:
    measured_at: datetime
    events_last_hour: int
    """Webhook deliveries received in the hour before measured_at."""
    lag_p50_seconds: float | None
    """received_at - event created, over the last hour's deliveries; None when there were none."""
    lag_p95_seconds: float | None
    lag_max_seconds: float | None
    last_received_at: datetime | None
    """The newest webhook delivery ever; None when no webhook was ever received."""
    received: int
    processing: int
    retrying: int
    retrying_due: int
    """Retrying events whose next_retry_at has come."""
    failed: int
    oldest_received_at: datetime | None
    """The oldest event still waiting in `received`."""
    newest_due_at: datetime | None
    """The newest received_at or due next_retry_at among events processing can take now: it moves whenever
    new work arrives, so it names the work a processing run would pick up."""

    @property
    def backlog(self) -> int:
        """Stored events not processed yet (failed ones aside)."""
        return self.received + self.processing + self.retrying

    @property
    def due(self) -> int:
        """Events a processing run would take now."""
        return self.received + self.retrying_due

    @property
    def seconds_since_last_event(self) -> float | None:
        return _seconds_between(self.last_received_at, self.measured_at)

    @property
    def oldest_received_age_seconds(self) -> float | None:
        return _seconds_between(self.oldest_received_at, self.measured_at)


def _seconds_between(earlier: datetime | None, later: datetime) -> float | None:
    return None if earlier is None else (later - earlier).total_seconds()


@dataclass(frozen=True)
class StuckEvents:
    count: int
    oldest_received_at: datetime | None


@dataclass(frozen=True)
class Thresholds:
    """Alert when a figure goes above its threshold; None turns that alert off."""

    max_lag_p95_seconds: float | None = 300
    max_lag_seconds: float | None = 3600
    max_silence_seconds: float | None = 6 * 3600
    """Quiet accounts go hours without an event: keep this above the longest normal gap."""
    max_backlog: int | None = 1000
    max_failed: int | None = 0
    max_received_minutes: float | None = 15
    """How long an event may wait in `received` before it counts as stuck."""


THRESHOLD_VARIABLES = {
    "max_lag_p95_seconds": "PAYOPS_ALERT_MAX_LAG_P95_SECONDS",
    "max_lag_seconds": "PAYOPS_ALERT_MAX_LAG_SECONDS",
    "max_silence_seconds": "PAYOPS_ALERT_MAX_SILENCE_SECONDS",
    "max_backlog": "PAYOPS_ALERT_MAX_BACKLOG",
    "max_failed": "PAYOPS_ALERT_MAX_FAILED",
    "max_received_minutes": "PAYOPS_ALERT_MAX_RECEIVED_MINUTES",
}
"""The environment variable that overrides each threshold (whole numbers)."""


def thresholds_from_env(environ: Mapping[str, str] | None = None) -> Thresholds:
    env = os.environ if environ is None else environ
    try:
        return Thresholds(**{name: int(env[variable]) for name, variable in THRESHOLD_VARIABLES.items()
                             if env.get(variable)})
    except ValueError as exc:
        raise SettingsError(f"a PAYOPS_ALERT_* threshold is not a whole number: {exc}") from None


def measure(engine: sa.Engine, now: datetime | None = None) -> WebhookHealth:
    """The feed's figures as of `now` (default: the database's clock, the one received_at is written with)."""
    with engine.connect() as conn:
        row = conn.execute(MEASURE, {"now": now, "source": WEBHOOK_SOURCE, "window": LAG_WINDOW}).one()
    return WebhookHealth(**row._mapping)


def stuck_in_received(engine: sa.Engine, older_than: timedelta, now: datetime | None = None) -> StuckEvents:
    """Events waiting in `received` for longer than `older_than`."""
    with engine.connect() as conn:
        row = conn.execute(STUCK_IN_RECEIVED, {"now": now, "older_than": older_than}).one()
    return StuckEvents(**row._mapping)


def newest_received_at(engine: sa.Engine) -> datetime | None:
    """When the newest stored event arrived, from any source."""
    with engine.connect() as conn:
        return conn.execute(sa.text("select max(received_at) from raw.stripe_events")).scalar()


def evaluate(health: WebhookHealth, thresholds: Thresholds) -> list[Alert]:
    """The alerts the figures raise. No silence alert before the first webhook: nothing is wired yet."""
    alerts: list[Alert] = []

    def above(key: str, severity: str, value: float | None, threshold: float | None, message: str) -> None:
        if value is not None and threshold is not None and value > threshold:
            alerts.append(Alert(key, severity, message.format(value=value, threshold=threshold), value, threshold))

    above("webhook_lag_p95", "warning", health.lag_p95_seconds, thresholds.max_lag_p95_seconds,
          "Stripe webhook lag p95 over the last hour is {value:.0f} s, above {threshold:.0f} s")
    above("webhook_lag_max", "warning", health.lag_max_seconds, thresholds.max_lag_seconds,
          "slowest Stripe webhook in the last hour arrived {value:.0f} s after the event, above {threshold:.0f} s")
    above("webhook_silence", "warning", health.seconds_since_last_event, thresholds.max_silence_seconds,
          "no Stripe webhook received for {value:.0f} s, above {threshold:.0f} s")
    above("webhook_backlog", "warning", health.backlog, thresholds.max_backlog,
          "{value:.0f} Stripe events waiting to be processed, above {threshold:.0f}")
    above("webhook_failed", "error", health.failed, thresholds.max_failed,
          "{value:.0f} Stripe events failed processing, above {threshold:.0f}")
    stuck_minutes = None if health.oldest_received_age_seconds is None else health.oldest_received_age_seconds / 60
    above("webhook_stuck_received", "error", stuck_minutes, thresholds.max_received_minutes,
          "a Stripe event has waited in `received` for {value:.0f} min, above {threshold:.0f} min")
    return alerts


WEBHOOK_ALERT_KINDS = ("webhook_lag_p95", "webhook_lag_max", "webhook_silence", "webhook_backlog", "webhook_failed",
                       "webhook_stuck_received")
