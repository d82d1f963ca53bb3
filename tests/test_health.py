"""`payops health` exits 0 on a healthy warehouse and 1 when the database is down, webhook lag is over its
threshold, or the last refresh is older than the freshness policy allows."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from ingest.freshness import freshness_policy
from payops_cli.main import main


@pytest.fixture(autouse=True)
def fresh_state(engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("truncate ops.refreshes, ops.webhook_event_log, raw.stripe_events"))


def refreshed(engine, hours_ago: float, tests_failed: int = 0) -> None:
    finished = datetime.now(UTC) - timedelta(hours=hours_ago)
    with engine.begin() as conn:
        conn.execute(sa.text(
            "insert into ops.refreshes (run_id, full_build, started_at, finished_at, succeeded, tests_failed, "
            "tests_warned, failures) values (:run_id, false, :started, :finished, :ok, :failed, 0, :failures)"),
            {"run_id": f"run-{hours_ago}", "started": finished - timedelta(minutes=2), "finished": finished,
             "ok": tests_failed == 0, "failed": tests_failed,
             "failures": json.dumps([f"test_{n}" for n in range(tests_failed)])})


def health(*args: str) -> tuple[int, dict]:
    result = CliRunner().invoke(main, ["health", "--json", *args])
    report = json.loads(result.output)
    return result.exit_code, {check["name"]: check for check in report["checks"]}


def test_a_healthy_warehouse_exits_zero(engine, module_warehouse):
    refreshed(engine, hours_ago=0.5)
    code, checks = health()
    assert code == 0
    assert {name: check["status"] for name, check in checks.items()} == {
        "database": "ok", "migrations": "ok", "last_refresh": "ok", "dbt_tests": "ok", "webhooks": "ok",
        # No daemon in this test: refreshes may come from cron, so it warns and does not fail.
        "dagster_daemon": "warn", "disk": checks["disk"]["status"]}
    assert checks["disk"]["status"] in ("ok", "warn")


def test_a_stale_refresh_fails_and_a_late_one_warns(engine, module_warehouse):
    policy = freshness_policy()
    refreshed(engine, hours_ago=(policy.error_after + timedelta(minutes=30)).total_seconds() / 3600)
    code, checks = health()
    assert code == 1 and checks["last_refresh"]["status"] == "fail"

    refreshed(engine, hours_ago=(policy.warn_after + timedelta(minutes=30)).total_seconds() / 3600)
    code, checks = health()
    assert code == 0 and checks["last_refresh"]["status"] == "warn"


def test_failed_dbt_tests_of_the_last_build_fail(engine, module_warehouse):
    refreshed(engine, hours_ago=0.1, tests_failed=2)
    code, checks = health()
    assert code == 1 and checks["dbt_tests"]["detail"].startswith("2 dbt test(s) failed")


def test_webhook_lag_over_its_threshold_fails(engine, module_warehouse, monkeypatch):
    refreshed(engine, hours_ago=0.5)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(sa.text(
            "insert into raw.stripe_events (event_id, event_type, livemode, created_at, payload, received_at, source) "
            "values ('evt_late', 'charge.succeeded', false, :created, '{}', :received, 'webhook')"),
            {"created": now - timedelta(minutes=20), "received": now - timedelta(minutes=5)})
        conn.execute(sa.text("insert into ops.webhook_event_log (event_id, status, received_at) "
                             "values ('evt_late', 'processed', :received)"), {"received": now - timedelta(minutes=5)})
    monkeypatch.setenv("PAYOPS_ALERT_MAX_LAG_P95_SECONDS", "600")
    code, checks = health()
    assert code == 1 and "lag p95" in checks["webhooks"]["detail"]

    monkeypatch.setenv("PAYOPS_ALERT_MAX_LAG_P95_SECONDS", "1200")
    monkeypatch.setenv("PAYOPS_ALERT_MAX_LAG_SECONDS", "1200")
    assert health()[0] == 0


def test_a_database_that_is_down_fails(monkeypatch, tmp_path):
    monkeypatch.setenv("PAYOPS_HOME", str(tmp_path))
    monkeypatch.setenv("WAREHOUSE_URL", "postgresql://payops:secret@127.0.0.1:9/payops")
    code, checks = health()
    assert code == 1
    assert checks["database"]["status"] == "fail" and "secret" not in checks["database"]["detail"]
    assert checks["last_refresh"] == {"name": "last_refresh", "status": "fail", "detail": "database unreachable"}
