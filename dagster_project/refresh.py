"""`payops refresh`: materialize the whole asset graph through Dagster, as the hourly schedule does."""

from __future__ import annotations

import dagster as dg

from dagster_project.environment import prepare
from dagster_project.project import prepare_manifest
from ingest.notify import load_alert_config
from payops.db import ready_engine
from payops.settings import Settings

# Step-level DEBUG lines drown the dbt progress lines a person wants to watch.
QUIET_CONSOLE = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


def start(settings: Settings) -> None:
    """What every entry point that loads the definitions does first: migrations (once per process), the alert
    configuration checked, the environment Dagster and dbt read, and dbt's manifest."""
    ready_engine(settings)
    load_alert_config(settings)
    prepare(settings)
    prepare_manifest()


def refresh(settings: Settings, full_build: bool = False) -> dg.ExecuteInProcessResult:
    """Run every asset once, in dependency order, recorded in the Postgres-backed Dagster instance."""
    start(settings)
    from dagster_project.definitions import defs  # imported late: the dbt assets read the manifest just prepared
    from dagster_project.defs.automation.schedules import REFRESH_JOB

    job = defs().resolve_job_def(REFRESH_JOB)
    run_config = {**QUIET_CONSOLE, "ops": {"payops_dbt_models": {"config": {"full_build": full_build}}}}
    with dg.DagsterInstance.get() as instance:
        return job.execute_in_process(instance=instance, raise_on_error=False, run_config=run_config)
