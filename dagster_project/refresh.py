"""`payops refresh`: materialize the whole asset graph through Dagster, as the hourly schedule does."""

from __future__ import annotations

import dagster as dg

from dagster_project.environment import parse_dbt_project, prepare
from payops.db import ready_engine
from payops.settings import Settings

# Step-level DEBUG lines drown the dbt progress lines a person wants to watch.
QUIET_CONSOLE = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


def refresh(settings: Settings) -> dg.ExecuteInProcessResult:
    """Run every asset once, in dependency order, recorded in the Postgres-backed Dagster instance."""
    ready_engine(settings)
    prepare(settings)
    parse_dbt_project()
    from dagster_project.definitions import defs  # imported late: the dbt assets read the manifest just parsed
    from dagster_project.defs.schedules import REFRESH_SELECTION

    job = dg.define_asset_job("refresh", selection=REFRESH_SELECTION).resolve(asset_graph=defs().resolve_asset_graph())
    with dg.DagsterInstance.get() as instance:
        return job.execute_in_process(instance=instance, raise_on_error=False, run_config=QUIET_CONSOLE)
