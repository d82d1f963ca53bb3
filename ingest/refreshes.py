"""What each refresh's dbt build did, recorded in ops.refreshes for `payops health` and the freshness checks."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ingest.app_tables import APP_SCHEMA, APP_TABLES

FAILED_STATUSES = {"error", "fail", "runtime error"}


@dataclass(frozen=True)
class BuildSummary:
    tests_failed: int = 0
    tests_warned: int = 0
    failures: list[str] = field(default_factory=list)
    """Every node that errored or failed, tests and models alike."""


def summarize_run_results(run_results: Mapping[str, Any]) -> BuildSummary:
    """dbt's run_results.json reduced to what health reports."""
    tests_failed = tests_warned = 0
    failures = []
    for result in run_results.get("results", []):
        is_test = result["unique_id"].startswith(("test.", "unit_test."))
        if result["status"] in FAILED_STATUSES:
            failures.append(result["unique_id"].split(".", 2)[-1])
            tests_failed += is_test
        elif result["status"] == "warn":
            tests_warned += is_test
    return BuildSummary(tests_failed, tests_warned, failures)


def record_refresh(engine: sa.Engine, *, run_id: str, full_build: bool, started_at: datetime, succeeded: bool,
                   summary: BuildSummary) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("""
            insert into ops.refreshes (run_id, full_build, started_at, succeeded, tests_failed, tests_warned, failures)
            values (:run_id, :full_build, :started_at, :succeeded, :tests_failed, :tests_warned,
                    cast(:failures as jsonb))
            on conflict (run_id) do update set finished_at = now(), succeeded = excluded.succeeded,
                tests_failed = excluded.tests_failed, tests_warned = excluded.tests_warned,
                failures = excluded.failures
        """), {"run_id": run_id, "full_build": full_build, "started_at": started_at, "succeeded": succeeded,
               "tests_failed": summary.tests_failed, "tests_warned": summary.tests_warned,
               "failures": json.dumps(summary.failures)})


def last_successful_refresh_start(engine: sa.Engine) -> datetime | None:
    """When the newest successful refresh began: anything that arrived after it is not in the marts yet."""
    with engine.connect() as conn:
        return conn.execute(sa.text(
            "select started_at from ops.refreshes where succeeded order by finished_at desc limit 1")).scalar()


def waiting_work(warehouse: sa.Engine, app: sa.Engine, landing_dir: Path, since: datetime | None) -> list[str]:
    """What arrived after `since` (the last successful refresh's start): new landing files, stored Stripe events,
    changed app rows. Empty means a refresh would change nothing."""
    if since is None:
        return ["no refresh has succeeded yet"]
    reasons = []
    if landing_dir.is_dir():
        files = sum(1 for path in landing_dir.rglob("*") if path.is_file() and path.stat().st_mtime > since.timestamp())
        if files:
            reasons.append(f"{files} new landing file(s)")
    with warehouse.connect() as conn:
        events = conn.execute(sa.text("select count(*) from raw.stripe_events where received_at > :since"),
                              {"since": since}).scalar()
    if events:
        reasons.append(f"{events} new Stripe event(s)")
    with app.connect() as conn:
        for table in APP_TABLES:
            if conn.execute(sa.text(f"select to_regclass('{APP_SCHEMA}.{table}')")).scalar() is None:
                continue
            changed = conn.execute(sa.text(f"select count(*) from {APP_SCHEMA}.{table} where updated_at > :since"),
                                   {"since": since}).scalar()
            if changed:
                reasons.append(f"{changed} changed row(s) in {APP_SCHEMA}.{table}")
    return reasons
