"""The dbt project, built once per process, with its manifest prepared by dagster-dbt's own preparer."""

from __future__ import annotations

from functools import cache

from dagster_dbt import DbtProject

from dagster_project.environment import DBT_PROJECT_DIR

DBT_REFRESH_ARGS = ("build", "--exclude-resource-type", "unit_test")
"""The hourly refresh. Unit tests check the SQL on fixed inputs, not the data, so as dbt advises they run in CI and
in the nightly full build, not every hour."""
DBT_FULL_BUILD_ARGS = ("build", "--full-refresh")
"""The nightly full build: every incremental model rebuilt from scratch, and every dbt test, unit tests included."""


@cache
def payops_dbt_project() -> DbtProject:
    project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
    project.prepare_if_dev()
    return project


def prepare_manifest() -> DbtProject:
    """Write dbt's manifest, which the dbt assets are built from (`payops serve`, `refresh` and `demo` call this
    before Dagster loads the definitions; the environment must be prepared first)."""
    project = payops_dbt_project()
    project.preparer.prepare(project)
    return project
