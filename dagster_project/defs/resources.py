"""Resources shared by every domain, configured from the environment."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import sqlalchemy as sa
from dagster_dbt import DbtCliResource

from dagster_project.environment import DBT_EXECUTABLE, DBT_PROJECT_DIR
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
