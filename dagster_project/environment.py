"""Point Dagster and dbt at the payops warehouse before they load.

Dagster reads DAGSTER_HOME (its dagster.yaml keeps runs, schedules and sensor cursors in Postgres) and
dbt's profiles.yml reads PAYOPS_PG_*: both are derived here from the one set of payops settings, so
the CLI, the Dagster webserver and daemon, and the tests all run against the same warehouse.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from payops.db import dagster_storage_url, dbt_env
from payops.settings import Settings

REPO_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = REPO_ROOT / "dbt"
BIN = Path(sys.executable).parent
DBT_EXECUTABLE = BIN / "dbt"
CODE_LOCATION = "payops"
RUN_RETRIES = 2
"""A failed run is retried this many times by the daemon before the run-failure sensor alerts."""
DAGSTER_YAML = f"""\
# Written by payops (dagster_project/environment.py): runs, schedules and sensor cursors live in Postgres.
storage:
  postgres:
    postgres_url:
      env: DAGSTER_PG_URL
telemetry:
  enabled: false
# No "join the community" pop-up over the first visit to the UI.
nux:
  enabled: false
run_retries:
  enabled: true
  max_retries: {RUN_RETRIES}
"""
WORKSPACE_YAML = f"""\
# Written by payops: one code location, named `{CODE_LOCATION}` as pyproject's [tool.dagster] says.
load_from:
  - python_module:
      module_name: dagster_project.definitions
      location_name: {CODE_LOCATION}
      working_directory: {REPO_ROOT}
"""


def workspace_file(settings: Settings) -> Path:
    return settings.dagster_home / "workspace.yaml"


def prepare(settings: Settings) -> None:
    """Export the environment Dagster and dbt read; write dagster.yaml and workspace.yaml under DAGSTER_HOME."""
    settings.dagster_home.mkdir(parents=True, exist_ok=True)
    (settings.dagster_home / "dagster.yaml").write_text(DAGSTER_YAML)
    workspace_file(settings).write_text(WORKSPACE_YAML)
    path = os.environ.get("PATH", "")
    os.environ.update(
        {
            "PAYOPS_HOME": str(settings.home),
            "DAGSTER_HOME": str(settings.dagster_home),
            "DAGSTER_PG_URL": dagster_storage_url(settings),
            "DBT_PROFILES_DIR": str(DBT_PROJECT_DIR),
            # dagster-dbt runs `dbt` from PATH; the venv's bin holds it.
            "PATH": path if str(BIN) in path.split(os.pathsep) else f"{BIN}{os.pathsep}{path}",
            **dbt_env(settings),
        }
    )
