"""Point Dagster and dbt at the payops warehouse before they load.

Dagster reads DAGSTER_HOME (its dagster.yaml keeps runs, schedules and sensor cursors in Postgres) and
dbt's profiles.yml reads PAYOPS_PG_*: both are derived here from the one set of payops settings, so
the CLI, `dagster dev` and the tests all run against the same warehouse.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from payops.db import dbt_env, masked, warehouse_url, with_driver
from payops.settings import Settings

REPO_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = REPO_ROOT / "dbt"
DBT_EXECUTABLE = Path(sys.executable).parent / "dbt"
DBT_REFRESH_ARGS = ("build", "--exclude-resource-type", "unit_test")
"""What every refresh runs. Unit tests check the SQL on fixed inputs, not the data, so as dbt advises they
run in CI (`make test` runs a whole `dbt build`), not in every refresh."""
DAGSTER_DATABASE = "dagster"
DAGSTER_YAML = """\
# Written by payops (dagster_project/environment.py): runs, schedules and sensor cursors live in Postgres.
storage:
  postgres:
    postgres_url:
      env: DAGSTER_PG_URL
telemetry:
  enabled: false
"""


def dagster_storage_url(settings: Settings) -> str:
    """DAGSTER_PG_URL, else the warehouse itself, else a `dagster` database on the embedded server."""
    if settings.dagster_pg_url:
        url = with_driver(settings.dagster_pg_url, "psycopg2")
    elif settings.warehouse_url:
        url = with_driver(settings.warehouse_url, "psycopg2")
    else:
        url = warehouse_url(settings)
        engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
        with engine.connect() as conn:
            exists = conn.execute(sa.text("select 1 from pg_database where datname = :name"),
                                  {"name": DAGSTER_DATABASE}).scalar()
            if not exists:
                conn.execute(sa.text(f"create database {DAGSTER_DATABASE}"))
        url = with_driver(url.set(database=DAGSTER_DATABASE), "psycopg2")
    return url.render_as_string(hide_password=False)


def prepare(settings: Settings) -> None:
    """Export the environment Dagster and dbt read, and write dagster.yaml under DAGSTER_HOME."""
    settings.dagster_home.mkdir(parents=True, exist_ok=True)
    (settings.dagster_home / "dagster.yaml").write_text(DAGSTER_YAML)
    os.environ.update(
        {
            "PAYOPS_HOME": str(settings.home),
            "DAGSTER_HOME": str(settings.dagster_home),
            "DAGSTER_PG_URL": dagster_storage_url(settings),
            "DBT_PROFILES_DIR": str(DBT_PROJECT_DIR),
            **dbt_env(settings),
        }
    )


def parse_dbt_project() -> None:
    """Write dbt's manifest, which the dbt assets are built from; dagster-dbt only does this under `dagster dev`."""
    completed = subprocess.run(
        [str(DBT_EXECUTABLE), "parse", "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
         "--quiet"],
        capture_output=True,
        text=True,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"dbt parse failed:\n{completed.stdout}{completed.stderr}")


def describe(settings: Settings) -> str:
    return f"warehouse {masked(warehouse_url(settings))}, reporting time zone {settings.timezone}"
