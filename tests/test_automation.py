"""Schedules and sensors under Dagster's test contexts: what has nothing to do skips with a reason and launches no
run, what has work launches it, and a run that failed past its retries alerts through the notifier."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
import sqlalchemy as sa

from dagster_project.defs.automation.schedules import REFRESH_JOB, hourly_refresh, nightly_full_build
from dagster_project.defs.ingest.stripe_sync import stripe_events_sync
from dagster_project.defs.monitoring.alerts import run_failure_alert, run_success_resolves_alert
from dagster_project.defs.resources import WarehouseResource
from ingest.refreshes import BuildSummary, record_refresh
from ingest.stripe_sync import NO_KEY_MESSAGE
from tests.test_notify import HttpReceiver


@pytest.fixture(autouse=True)
def empty(engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("truncate ops.refreshes, raw.stripe_events cascade; "
                             "truncate ops.alert_deliveries, ops.alert_conditions"))


@pytest.fixture
def warehouse(module_warehouse) -> WarehouseResource:
    return WarehouseResource(payops_home=str(module_warehouse.home))


def evaluate_schedule(schedule, warehouse: WarehouseResource):
    with dg.DagsterInstance.ephemeral() as instance:
        context = dg.build_schedule_context(instance=instance, resources={"warehouse": warehouse},
                                            scheduled_execution_time=datetime.now(UTC))
        return schedule.evaluate_tick(context)


def test_the_sync_without_a_key_skips_with_a_reason_and_launches_with_one(warehouse, monkeypatch):
    skipped = evaluate_schedule(stripe_events_sync, warehouse)
    assert skipped.run_requests == [] and skipped.skip_message == NO_KEY_MESSAGE

    monkeypatch.setenv("STRIPE_API_KEY", "rk_test_key")
    [request] = evaluate_schedule(stripe_events_sync, warehouse).run_requests
    assert request.job_name in (None, "stripe_events_sync")


def test_the_hourly_refresh_skips_when_nothing_arrived_and_launches_when_events_did(engine, warehouse):
    first = evaluate_schedule(hourly_refresh, warehouse)
    assert len(first.run_requests) == 1, "never refreshed: refresh"
    assert first.run_requests[0].tags["payops/reason"] == "no refresh has succeeded yet"

    began = datetime.now(UTC) - timedelta(minutes=10)
    record_refresh(engine, run_id="r1", full_build=False, started_at=began, succeeded=True, summary=BuildSummary())
    with engine.begin() as conn:
        conn.execute(sa.text(
            "insert into raw.stripe_events (event_id, event_type, livemode, created_at, payload, received_at, source) "
            "values ('evt_old', 'charge.succeeded', false, :at, '{}', :at, 'replay')"), {"at": began - timedelta(1)})
    skipped = evaluate_schedule(hourly_refresh, warehouse)
    assert skipped.run_requests == [] and skipped.skip_message.startswith("nothing arrived since")

    with engine.begin() as conn:
        conn.execute(sa.text(
            "insert into raw.stripe_events (event_id, event_type, livemode, created_at, payload, received_at, source) "
            "values ('evt_new', 'charge.succeeded', false, now(), '{}', now(), 'webhook')"))
    [request] = evaluate_schedule(hourly_refresh, warehouse).run_requests
    assert request.tags["payops/reason"] == "1 new Stripe event(s)"


def test_the_nightly_build_runs_every_dbt_test_from_scratch(warehouse):
    [request] = evaluate_schedule(nightly_full_build, warehouse).run_requests
    assert request.run_config["ops"]["payops_dbt_models"]["config"] == {"full_build": True}
    assert nightly_full_build.job_name == hourly_refresh.job_name == REFRESH_JOB


@dg.op
def fails() -> None:
    raise RuntimeError("the warehouse went away")


@dg.job(name=REFRESH_JOB)
def failing_refresh() -> None:
    fails()


def failure_context(instance: dg.DagsterInstance, retry_number: int) -> dg.RunFailureSensorContext:
    result = failing_refresh.execute_in_process(
        instance=instance, raise_on_error=False,
        tags={"dagster/retry_number": str(retry_number), "dagster/max_retries": "2"})
    failure = next(event for event in result.all_events if event.event_type == dg.DagsterEventType.RUN_FAILURE)
    return dg.build_run_status_sensor_context(
        sensor_name="run_failure_alert", dagster_instance=instance, dagster_run=result.dagster_run,
        dagster_event=failure).for_run_failure()


def test_a_run_failed_past_its_retries_alerts_once_and_a_success_resolves_it(engine, warehouse, monkeypatch):
    receiver = HttpReceiver()
    monkeypatch.setenv("PAYOPS_ALERT_WEBHOOK_URL", receiver.url)
    try:
        with dg.DagsterInstance.ephemeral() as instance:
            retried = run_failure_alert(failure_context(instance, retry_number=1), warehouse=warehouse)
            assert isinstance(retried, dg.SkipReason) and "retry 2 of 2 follows" in retried.skip_message
            assert receiver.received == []

            run_failure_alert(failure_context(instance, retry_number=2), warehouse=warehouse)
            run_failure_alert(failure_context(instance, retry_number=2), warehouse=warehouse)
            [(_, alert)] = receiver.received
            assert alert["key"] == "refresh_failed:refresh" and alert["severity"] == "error"
            assert "refresh failed after 2 retries" in alert["message"]

            success = dg.build_run_status_sensor_context(
                sensor_name="run_success_resolves_alert", dagster_instance=instance,
                dagster_run=dg.DagsterRun(job_name=REFRESH_JOB, run_id="ok"),
                dagster_event=dg.DagsterEvent(event_type_value="PIPELINE_SUCCESS", job_name=REFRESH_JOB))
            run_success_resolves_alert(success, warehouse=warehouse)
    finally:
        receiver.close()
    assert [(body["key"], body["resolved"]) for _, body in receiver.received] == [
        ("refresh_failed:refresh", False), ("refresh_failed:refresh", True)]
