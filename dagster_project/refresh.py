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

    definitions = defs()
    job = definitions.resolve_implicit_global_asset_job_def()
    # The month-partitioned report assets are left to their automation condition (dagster_project/defs/reports).
    unpartitioned = [node.key for node in definitions.resolve_asset_graph().asset_nodes
                     if node.is_materializable and node.partitions_def is None]
    with dg.DagsterInstance.get() as instance:
        return job.execute_in_process(instance=instance, raise_on_error=False, run_config=QUIET_CONSOLE,
                                      asset_selection=unpartitioned)
