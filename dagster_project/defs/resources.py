"""Resources shared by every domain, configured from the environment."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import dagster as dg
import sqlalchemy as sa
from dagster_dbt import DbtCliResource

from dagster_project.environment import DBT_EXECUTABLE, DBT_PROJECT_DIR
from ingest.refresh_lock import refresh_lock
from payops.db import app_engine, ready_engine
from payops.settings import Settings


class WarehouseResource(dg.ConfigurableResource):
    """The payops warehouse: the embedded Postgres under PAYOPS_HOME, or WAREHOUSE_URL when set."""

    payops_home: str

    def settings(self) -> Settings:
        return Settings.from_env({**os.environ, "PAYOPS_HOME": self.payops_home})

    def engine(self) -> sa.Engine:
        return ready_engine(self.settings())

    def app_engine(self) -> sa.Engine:
        return app_engine(self.settings())

    @contextmanager
    def refresh_lock(self, log: logging.Logger | dg.DagsterLogManager) -> Iterator[None]:
        """The warehouse's one-refresh-at-a-time lock (ingest/refresh_lock.py), waiting for it with a log line."""
        def waiting(since: datetime | None) -> None:
            log.info(f"a refresh has been running since {since:%Y-%m-%d %H:%M:%S %Z}; waiting for it to end"
                     if since else "another refresh holds the lock; waiting for it to end")

        with refresh_lock(self.engine(), waiting):
            yield

    @property
    def stripe_landing_dir(self) -> Path:
        return self.settings().stripe_landing_dir


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(
        resources={
            "warehouse": WarehouseResource(payops_home=dg.EnvVar("PAYOPS_HOME")),
            "dbt": DbtCliResource(
                project_dir=str(DBT_PROJECT_DIR),
                profiles_dir=str(DBT_PROJECT_DIR),
                dbt_executable=str(DBT_EXECUTABLE),
            ),
        }
    )
