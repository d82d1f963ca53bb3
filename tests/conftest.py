"""Fixtures shared across test modules: fresh embedded warehouses, and one pipeline built end to end."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from payops.db import stop_embedded
from payops.settings import Settings

# Variables a test's warehouse must not inherit from the developer's shell.
OUTSIDE_SETTINGS = ("WAREHOUSE_URL", "APP_DATABASE_URL", "DAGSTER_HOME", "DAGSTER_PG_URL", "PAYOPS_TIMEZONE",
                    "STRIPE_WEBHOOK_SECRET", "STRIPE_API_KEY", "STRIPE_API_BASE", "PAYOPS_ALERT_WEBHOOK_URL")
DBT_PROJECT_DIR = Path(__file__).resolve().parents[1] / "dbt"
DBT = Path(sys.executable).with_name("dbt")
TIMEZONE = "America/Sao_Paulo"
"""The pipeline's reporting time zone: not UTC, so day cutting is exercised."""
END = date(2026, 6, 30)


LONGEST_MODULES = ("test_refresh_robustness.py", "test_services.py", "test_pipeline_e2e.py",
                   "test_marts_incremental.py", "test_dbt_project.py", "test_admin_actions_marts.py")
"""Started first (`make test` runs modules on every core): each takes minutes, and one left for last would keep a
core busy alone while the others idle."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest modules first, in that order, each module's tests in their written order (the sort is stable)."""
    rank = {name: number for number, name in enumerate(LONGEST_MODULES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@contextmanager
def environment(**env: str) -> Iterator[None]:
    """Run with these settings and none of the shell's; the process environment is restored after."""
    saved = dict(os.environ)
    for name in OUTSIDE_SETTINGS:
        os.environ.pop(name, None)
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextmanager
def embedded_warehouse(home: Path, **env: str) -> Iterator[Settings]:
    """Settings for a fresh embedded Postgres under `home`, stopped after."""
    with environment(PAYOPS_HOME=str(home), **env):
        settings = Settings.from_env()
        try:
            yield settings
        finally:
            stop_embedded(settings)


def dbt(settings: Settings, target_path: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """`dbt ARGS` on the settings' warehouse, as Dagster runs it, with its compiled files and logs under
    `target_path`. A failure fails the test, showing dbt's output, unless `check` is false."""
    from payops.db import dbt_env

    result = subprocess.run(
        [str(DBT), *args, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
         "--target-path", str(target_path), "--log-path", str(target_path / "logs")],
        env={**os.environ, **dbt_env(settings)}, capture_output=True, text=True, timeout=600, check=False,
    )
    if check:
        assert result.returncode == 0, f"dbt {' '.join(args)} failed:\n{result.stdout[-6000:]}\n{result.stderr[-2000:]}"
    return result


@pytest.fixture(scope="module")
def module_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    with embedded_warehouse(tmp_path_factory.mktemp("payops")) as settings:
        yield settings


@pytest.fixture(scope="module")
def engine(module_warehouse: Settings) -> sa.Engine:
    """The module's warehouse, migrated."""
    from payops.db import ready_engine

    return ready_engine(module_warehouse)


@pytest.fixture
def empty_event_tables(engine: sa.Engine) -> None:
    """Each test starts with no Stripe event, log row or object state (modules opt in with usefixtures)."""
    from ingest.processing import STATE_TABLES

    tables = ["raw.stripe_events", "ops.webhook_event_log", *(f"raw.{t.table}" for t in STATE_TABLES)]
    with engine.begin() as conn:
        conn.execute(sa.text(f"truncate {', '.join(tables)}"))


@dataclass(frozen=True)
class Pipeline:
    """Demo data generated, then every asset materialized once through Dagster, as `payops refresh` does."""

    settings: Settings
    engine: sa.Engine
    demo: object
    """demo.generate.DemoSummary: where the event files are, app row counts, planted disagreements"""
    run: object
    """the dagster ExecuteInProcessResult of the refresh"""
    env: dict[str, str]
    """the environment the refresh ran with (DAGSTER_HOME, PAYOPS_PG_* …), for tests that need it again"""


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    from dagster_project.refresh import refresh
    from demo.generate import generate_demo_data
    from payops.db import ready_engine

    home = tmp_path_factory.mktemp("pipeline")
    # The environment is restored right after the build, so this session-long warehouse leaks into no other test.
    with environment(PAYOPS_HOME=str(home), PAYOPS_TIMEZONE=TIMEZONE):
        settings = Settings.from_env()
        demo = generate_demo_data(settings, days=30, students=60, seed=11, end=END, progress=False)
        run = refresh(settings)
        assert run.success, [e.message for e in run.all_events if e.is_step_failure]
        built = Pipeline(settings, ready_engine(settings), demo, run, dict(os.environ))
    try:
        yield built
    finally:
        stop_embedded(settings)


@pytest.fixture
def pipeline_env(pipeline: Pipeline) -> Iterator[Pipeline]:
    """The pipeline, with the process environment set as it was for its refresh (AppTest, DagsterInstance.get)."""
    with environment(**pipeline.env):
        yield pipeline
