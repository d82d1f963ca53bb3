"""The definitions load as Dagster's webserver and daemon load them, with the assets, checks, schedules, sensors
and jobs the README describes; and the one freshness policy is the one every consumer uses."""

from __future__ import annotations

import json
from datetime import timedelta

import dagster as dg
import pytest
import sqlalchemy as sa

from ingest.freshness import freshness_policy

STATE_TABLES = ("stripe_charges", "stripe_payment_intents", "stripe_refunds", "stripe_disputes",
                "stripe_balance_transactions")
MARTS = ("payments_daily", "fct_charges", "fct_payment_intents", "fct_refunds", "fct_disputes", "revenue_trends",
         "failure_analysis", "dispute_metrics", "webhook_health", "student_payment_summary",
         "reconciliation_exceptions", "fraud_signals")


@pytest.fixture
def definitions(pipeline_env) -> dg.Definitions:
    # The session's pipeline prepared dbt's manifest (through dagster-dbt's preparer) before its refresh.
    from dagster_project.definitions import defs

    return defs()


def test_the_expected_assets_checks_schedules_sensors_and_jobs_load(definitions):
    repository = definitions.get_repository_def()
    keys = {key.to_user_string() for key in repository.asset_graph.get_all_asset_keys()}
    assert {"raw/stripe_events", "raw/app_rows", "raw/stripe_events_from_api", "ops/alert_conditions"} <= keys
    assert {f"raw/{table}" for table in STATE_TABLES} <= keys
    assert {f"analytics/{mart}" for mart in MARTS} <= keys

    checks = {key.name for key in repository.asset_graph.asset_check_keys}
    assert {"stripe_events_fresh", "no_stripe_event_stuck_in_received"} <= checks
    assert any(name.startswith("not_null_") for name in checks), "dbt's tests are asset checks"
    # The integrity tests that prove sums are conserved from raw to marts are checks too, on the mart they prove.
    assert {"assert_payments_daily_conserves_charges", "assert_revenue_trends_months_add_up_to_payments_daily",
            "assert_every_dispute_once_in_fct_disputes"} <= checks

    assert {"exports/compliance", "reports/monthly_payments_review", "reports/dispute_risk_review",
            "reports/webhook_reliability"} <= keys

    assert {schedule.name for schedule in repository.schedule_defs} == {
        "hourly_refresh", "nightly_full_build", "stripe_events_sync", "stripe_balance_sync_schedule",
        "maintain_stripe_event_partitions_daily"}
    assert {sensor.name for sensor in repository.sensor_defs} >= {
        "webhook_lag_sensor", "run_failure_alert", "run_success_resolves_alert", "payops_automation",
        "report_automation"}
    jobs = {job.name for job in repository.get_all_jobs() if not job.name.startswith("__")}
    assert jobs == {"refresh", "process_stripe_events", "stripe_events_sync", "stripe_balance_sync",
                    "maintain_stripe_event_partitions"}
    refresh = repository.get_job("refresh")
    assert not refresh.partitions_def, "the refresh leaves the monthly exports and reports to their partitions"


def test_marts_and_raw_assets_carry_the_one_freshness_policy_and_models_follow_their_sources(definitions):
    graph = definitions.get_repository_def().asset_graph
    policy = freshness_policy()
    for key in ("analytics/payments_daily", "analytics/fct_disputes", "raw/stripe_events", "raw/app_rows"):
        node = graph.get(dg.AssetKey.from_user_string(key))
        assert node.freshness_policy.fail_window.to_timedelta() == policy.error_after, key
        assert node.freshness_policy.warn_window.to_timedelta() == policy.warn_after, key
    staging = graph.get(dg.AssetKey(["analytics", "stg_stripe__charges"]))
    assert staging.freshness_policy is None
    assert staging.automation_condition is not None
    assert graph.get(dg.AssetKey(["analytics", "fct_charges"])).group_name == "transform"


def test_dbt_source_freshness_reads_the_same_policy(pipeline_env):
    from dagster_project.project import payops_dbt_project

    manifest = json.loads(payops_dbt_project().manifest_path.read_text())
    policy = freshness_policy()
    for source in manifest["sources"].values():
        freshness = source["freshness"]
        assert timedelta(hours=freshness["warn_after"]["count"]) == policy.warn_after, source["unique_id"]
        assert timedelta(hours=freshness["error_after"]["count"]) == policy.error_after, source["unique_id"]


def test_the_scheduled_refresh_job_ran_in_process_and_recorded_its_build(pipeline):
    from dagster_project.defs.automation.schedules import hourly_refresh

    assert pipeline.run.dagster_run.job_name == hourly_refresh.job_name
    materialized = {event.asset_key.to_user_string() for event in pipeline.run.get_asset_materialization_events()}
    assert {"raw/stripe_events", "analytics/payments_daily", "ops/alert_conditions"} <= materialized
    with pipeline.engine.connect() as conn:
        recorded = conn.execute(sa.text("select succeeded, tests_failed, full_build from ops.refreshes "
                                        "where run_id = :run_id"), {"run_id": pipeline.run.run_id}).one()
    assert tuple(recorded) == (True, 0, False)


def test_a_channel_that_is_down_does_not_fail_the_alerts_step_of_a_refresh(pipeline_env, monkeypatch):
    from dagster_project.defs.monitoring.alerts import mart_alert_conditions
    from dagster_project.defs.resources import WarehouseResource

    # Everything the marts show is announced again, to a webhook nobody listens on.
    with pipeline_env.engine.begin() as conn:
        conn.execute(sa.text("update ops.alert_conditions set resolved_at = now() "
                             "where resolved_at is null and kind <> 'refresh_failed'"))
    monkeypatch.setenv("PAYOPS_ALERT_WEBHOOK_URL", "http://127.0.0.1:9/down")
    monkeypatch.setenv("PAYOPS_ALERT_ATTEMPTS", "1")
    result = dg.materialize([mart_alert_conditions], instance=dg.DagsterInstance.ephemeral(),
                            resources={"warehouse": WarehouseResource(payops_home=str(pipeline_env.settings.home))})
    assert result.success
    [materialization] = result.get_asset_materialization_events()
    metadata = materialization.materialization.metadata
    assert metadata["opened"].value > 0
    assert metadata["undelivered"].value == metadata["opened"].value
