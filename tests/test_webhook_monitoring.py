"""Webhook lag and health: figures measured in Postgres against figures computed here, the alert decision, the
sensor's run requests, observations and alerts (once per open condition), the asset checks, the webhook channel."""

from __future__ import annotations

import json
import statistics
import threading
from collections.abc import Iterator
from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import pytest
import sqlalchemy as sa

from dagster_project.defs.ingest.processing import PROCESS_STRIPE_EVENTS_JOB as PROCESS_JOB_NAME
from dagster_project.defs.monitoring.checks import no_stripe_event_stuck_in_received, stripe_events_fresh
from dagster_project.defs.monitoring.resources import WebhookMonitoringResource
from dagster_project.defs.monitoring.sensors import webhook_lag_sensor
from dagster_project.defs.resources import WarehouseResource
from ingest.freshness import freshness_policy
from ingest.notify import Alert, DeliveryFailed, WebhookChannel
from ingest.webhook_health import Thresholds, WebhookHealth, evaluate, measure
from payops.settings import Settings

SECRET_PATH = "/services/T000/B000/not-a-real-secret"
INSERT_EVENT = sa.text("""
insert into raw.stripe_events (event_id, event_type, livemode, created_at, payload, received_at, source)
values (:event_id, 'charge.succeeded', false, :created_at, '{}', :received_at, :source)
""")
INSERT_LOG = sa.text("""
insert into ops.webhook_event_log (event_id, status, received_at, next_retry_at)
values (:event_id, :status, :received_at, :next_retry_at)
""")


def seed(engine: sa.Engine, *events: dict) -> None:
    """Each event: received_at, lag_seconds, and optionally status (default processed), source, next_retry_at."""
    rows = [
        {"event_id": f"evt_{number}", "status": "processed", "source": "webhook", "next_retry_at": None, **event,
         "created_at": event["received_at"] - timedelta(seconds=event["lag_seconds"])}
        for number, event in enumerate(events)
    ]
    with engine.begin() as conn:
        conn.execute(INSERT_EVENT, rows)
        conn.execute(INSERT_LOG, rows)


@pytest.fixture(autouse=True)
def empty_tables(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("truncate ops.webhook_event_log, raw.stripe_events, ops.alert_deliveries, "
                             "ops.alert_conditions"))


class AlertReceiver:
    """A local HTTP endpoint standing in for a Slack incoming webhook."""

    def __init__(self) -> None:
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                received.append((self.path, json.loads(self.rfile.read(int(self.headers["Content-Length"])))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}{SECRET_PATH}"


@pytest.fixture
def alert_receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[AlertReceiver]:
    receiver = AlertReceiver()
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("PAYOPS_ALERT_WEBHOOK_URL", receiver.url)
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


@dg.op
def process_nothing() -> None:
    pass


@dg.job(name=PROCESS_JOB_NAME)
def stand_in_processing_job() -> None:
    process_nothing()


def run_sensor(module_warehouse: Settings, cursor: str | None = None,
               instance: dg.DagsterInstance | None = None, **thresholds: int) -> dg.SensorResult:
    resources = {
        "warehouse": WarehouseResource(payops_home=str(module_warehouse.home)),
        "webhook_monitoring": WebhookMonitoringResource(**thresholds),
    }
    context = dg.build_sensor_context(
        instance=instance or dg.DagsterInstance.ephemeral(),
        cursor=cursor,
        resources=resources,
        definitions=dg.Definitions(sensors=[webhook_lag_sensor], jobs=[stand_in_processing_job]),
    )
    return webhook_lag_sensor(context)


def percentile_cont(values: list[float], fraction: float) -> float:
    """Postgres's percentile_cont: linear interpolation between the closest ranks (statistics' inclusive method)."""
    return statistics.quantiles(values, n=100, method="inclusive")[round(fraction * 100) - 1]


def test_measure_matches_figures_computed_from_the_seeded_events(engine):
    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    recent_lags = [0.5, 1, 2, 2, 3, 4, 5, 7, 9, 12, 15, 20, 30, 45, 60, 90, 120, 240, 600, 1800]
    recent = [{"received_at": now - timedelta(minutes=2 + i), "lag_seconds": lag} for i, lag in enumerate(recent_lags)]
    seed(
        engine,
        *recent,
        # Outside the hour, and not a webhook delivery: neither counts towards lag.
        {"received_at": now - timedelta(hours=2), "lag_seconds": 99_999},
        {"received_at": now - timedelta(minutes=5), "lag_seconds": 99_999, "source": "replay"},
        {"received_at": now - timedelta(minutes=40), "lag_seconds": 1, "status": "received", "source": "events_api"},
        {"received_at": now - timedelta(minutes=90), "lag_seconds": 1, "status": "processing", "source": "replay"},
        {"received_at": now - timedelta(hours=3), "lag_seconds": 1, "status": "retrying", "source": "replay",
         "next_retry_at": now - timedelta(minutes=1)},
        {"received_at": now - timedelta(hours=4), "lag_seconds": 1, "status": "retrying", "source": "replay",
         "next_retry_at": now + timedelta(minutes=10)},
        {"received_at": now - timedelta(hours=5), "lag_seconds": 1, "status": "failed", "source": "replay"},
    )

    health = measure(engine, now=now)

    assert health.measured_at == now
    assert health.events_last_hour == len(recent_lags)
    assert health.lag_p50_seconds == pytest.approx(percentile_cont(recent_lags, 0.5))
    assert health.lag_p95_seconds == pytest.approx(percentile_cont(recent_lags, 0.95))
    assert health.lag_max_seconds == pytest.approx(max(recent_lags))
    assert health.seconds_since_last_event == pytest.approx(120)
    assert (health.received, health.processing, health.retrying, health.retrying_due, health.failed) == (1, 1, 2, 1, 1)
    assert health.backlog == 4
    assert health.due == 2
    assert health.oldest_received_age_seconds == pytest.approx(40 * 60)
    assert health.newest_due_at == now - timedelta(minutes=1)


def test_measure_with_no_events_reports_nothing_to_measure(engine):
    health = measure(engine)
    assert health.events_last_hour == 0 and health.backlog == 0 and health.failed == 0
    assert health.lag_p95_seconds is None and health.seconds_since_last_event is None
    assert evaluate(health, Thresholds()) == []


def test_evaluate_raises_each_alert_above_its_threshold_and_none_at_it():
    at_limits = WebhookHealth(
        measured_at=datetime(2026, 11, 26, 12, tzinfo=UTC), events_last_hour=10,
        lag_p50_seconds=10, lag_p95_seconds=300, lag_max_seconds=3600,
        last_received_at=datetime(2026, 11, 26, 6, tzinfo=UTC), received=1000, processing=0, retrying=0,
        retrying_due=0, failed=0, oldest_received_at=datetime(2026, 11, 26, 11, 45, tzinfo=UTC), newest_due_at=None,
    )
    assert evaluate(at_limits, Thresholds()) == []

    over = replace(at_limits, lag_p95_seconds=301, lag_max_seconds=3601, received=1001, failed=1,
                   last_received_at=datetime(2026, 11, 26, 5, 59, tzinfo=UTC),
                   oldest_received_at=datetime(2026, 11, 26, 11, 44, tzinfo=UTC))
    alerts = {alert.key: alert for alert in evaluate(over, Thresholds())}
    assert set(alerts) == {"webhook_lag_p95", "webhook_lag_max", "webhook_silence", "webhook_backlog",
                           "webhook_failed", "webhook_stuck_received"}
    assert (alerts["webhook_lag_p95"].value, alerts["webhook_lag_p95"].threshold) == (301, 300)
    assert alerts["webhook_failed"].severity == "error"
    assert evaluate(over, Thresholds(**{threshold.name: None for threshold in fields(Thresholds)})) == []


def test_sensor_alerts_once_when_p95_crosses_then_resolves_and_requests_processing(
        engine, module_warehouse, alert_receiver):
    now = datetime.now(UTC)
    lags = [5, 10, 20, 400, 900]
    seed(engine, *[{"received_at": now - timedelta(minutes=10 + i), "lag_seconds": lag, "status": "received"}
                   for i, lag in enumerate(lags)])
    expected_p95 = percentile_cont(lags, 0.95)

    first = run_sensor(module_warehouse, max_lag_p95_seconds=300)

    [request] = first.run_requests
    assert request.job_name == PROCESS_JOB_NAME
    assert request.run_key == f"due-through-{(now - timedelta(minutes=10)).isoformat()}"
    [observation] = first.asset_events
    assert observation.asset_key == dg.AssetKey(["raw", "stripe_events"])
    figures = {name: value.value for name, value in observation.metadata.items()}
    assert figures["lag_p95_seconds"] == pytest.approx(expected_p95)
    assert figures["lag_p50_seconds"] == pytest.approx(20)
    assert figures["lag_max_seconds"] == pytest.approx(900)
    assert (figures["events_last_hour"], figures["backlog"], figures["received"], figures["failed"]) == (5, 5, 5, 0)
    assert figures["seconds_since_last_event"] == pytest.approx(10 * 60, abs=30)
    [(path, alert)] = alert_receiver.received
    assert path == SECRET_PATH
    assert alert["key"] == "webhook_lag_p95" and alert["resolved"] is False
    assert alert["value"] == pytest.approx(expected_p95) and alert["threshold"] == 300
    assert "lag p95" in alert["text"]

    run_sensor(module_warehouse, max_lag_p95_seconds=300)
    assert len(alert_receiver.received) == 1, "the same state alerts only once, even from a fresh sensor cursor"

    run_sensor(module_warehouse, max_lag_p95_seconds=1000)
    [(_, resolution)] = alert_receiver.received[1:]
    assert resolution["key"] == "webhook_lag_p95" and resolution["resolved"] is True
    assert resolution["text"].startswith("[payops] RESOLVED")


def test_sensor_requests_no_run_without_a_backlog(engine, module_warehouse, alert_receiver):
    now = datetime.now(UTC)
    seed(engine, {"received_at": now - timedelta(minutes=1), "lag_seconds": 2},
         {"received_at": now - timedelta(minutes=2), "lag_seconds": 3, "status": "failed"})

    result = run_sensor(module_warehouse)

    assert not result.run_requests
    assert result.skip_reason is not None
    [observation] = result.asset_events
    assert observation.metadata["backlog"].value == 0 and observation.metadata["failed"].value == 1
    assert [alert["key"] for _, alert in alert_receiver.received] == ["webhook_failed"]


def test_sensor_does_not_stack_a_run_while_one_is_in_flight(engine, module_warehouse):
    seed(engine, {"received_at": datetime.now(UTC), "lag_seconds": 1, "status": "received"})
    with dg.DagsterInstance.ephemeral() as instance:
        instance.create_run_for_job(stand_in_processing_job)

        result = run_sensor(module_warehouse, instance=instance)

    assert not result.run_requests


def test_an_undelivered_alert_is_recorded_for_a_later_tick(engine, module_warehouse, monkeypatch):
    monkeypatch.setenv("PAYOPS_ALERT_WEBHOOK_URL", "http://127.0.0.1:9/unreachable")
    monkeypatch.setenv("PAYOPS_ALERT_BACKOFF_SECONDS", "0")
    seed(engine, {"received_at": datetime.now(UTC), "lag_seconds": 1, "status": "failed"})

    run_sensor(module_warehouse)

    with engine.connect() as conn:
        attempts = conn.execute(sa.text("select channel, delivered from ops.alert_deliveries order by id")).all()
    # Three tries in the tick, then the same tick's pass over pending messages (back-off 0 here) tries once more.
    assert attempts == [("log", True)] + [("webhook", False)] * 4


def test_freshness_check_follows_the_one_policy(engine, module_warehouse):
    warehouse = WarehouseResource(payops_home=str(module_warehouse.home))
    policy = freshness_policy()
    empty = stripe_events_fresh(warehouse=warehouse)
    assert not empty.passed and empty.severity == dg.AssetCheckSeverity.ERROR

    stale_age = policy.error_after + timedelta(hours=1)
    seed(engine, {"received_at": datetime.now(UTC) - stale_age, "lag_seconds": 1})
    stale = stripe_events_fresh(warehouse=warehouse)
    assert not stale.passed and stale.severity == dg.AssetCheckSeverity.ERROR
    assert stale.metadata["age_hours"].value == pytest.approx(stale_age.total_seconds() / 3600, abs=0.1)

    late_age = (policy.warn_after + policy.error_after) / 2
    seed(engine, {"received_at": datetime.now(UTC) - late_age, "lag_seconds": 1, "event_id": "evt_late"})
    late = stripe_events_fresh(warehouse=warehouse)
    assert not late.passed and late.severity == dg.AssetCheckSeverity.WARN

    seed(engine, {"received_at": datetime.now(UTC) - timedelta(minutes=5), "lag_seconds": 1, "event_id": "evt_new"})
    assert stripe_events_fresh(warehouse=warehouse).passed


def test_stuck_check_fails_on_an_event_waiting_in_received_too_long(engine, module_warehouse):
    warehouse = WarehouseResource(payops_home=str(module_warehouse.home))
    monitoring = WebhookMonitoringResource(max_received_minutes=15)
    now = datetime.now(UTC)
    seed(engine, {"received_at": now - timedelta(minutes=5), "lag_seconds": 1, "status": "received"},
         {"received_at": now - timedelta(hours=2), "lag_seconds": 1, "status": "processed"})
    fine = no_stripe_event_stuck_in_received(warehouse=warehouse, webhook_monitoring=monitoring)
    assert fine.passed and fine.metadata["stuck_events"].value == 0

    seed(engine, {"received_at": now - timedelta(minutes=20), "lag_seconds": 1, "status": "received",
                  "event_id": "evt_stuck"})
    stuck = no_stripe_event_stuck_in_received(warehouse=warehouse, webhook_monitoring=monitoring)
    assert not stuck.passed and stuck.severity == dg.AssetCheckSeverity.ERROR
    assert stuck.metadata["stuck_events"].value == 1


def test_webhook_channel_never_shows_the_secret_path():
    channel = WebhookChannel(f"http://127.0.0.1:9{SECRET_PATH}", timeout_seconds=1)
    alert = Alert("webhook_failed", "error", "1 Stripe event failed processing", 1, 0)
    with pytest.raises(DeliveryFailed) as failure:
        channel.deliver(alert)
    assert "127.0.0.1" in str(failure.value)
    assert SECRET_PATH not in str(failure.value) and SECRET_PATH not in repr(channel)


def test_checks_run_with_each_materialization_of_stripe_events(engine, module_warehouse):
    from dagster_project.defs.ingest.assets import stripe_events

    seed(engine, {"received_at": datetime.now(UTC) - timedelta(hours=1), "lag_seconds": 1, "status": "received"})
    result = dg.materialize(
        [stripe_events, stripe_events_fresh, no_stripe_event_stuck_in_received],
        resources={"warehouse": WarehouseResource(payops_home=str(module_warehouse.home)),
                   "webhook_monitoring": WebhookMonitoringResource()},
        instance=dg.DagsterInstance.ephemeral(),
    )

    outcomes = {evaluation.check_name: evaluation.passed for evaluation in result.get_asset_check_evaluations()}
    assert outcomes == {"stripe_events_fresh": True, "no_stripe_event_stuck_in_received": False}
