"""Resources shared by every domain, configured from the environment and built once."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import dagster as dg
import sqlalchemy as sa
from dagster_dbt import DbtCliResource

from dagster_project.project import payops_dbt_project
from ingest.notify import Notifier, load_alert_config
from payops import db
from payops.settings import Settings


@cache
def _engine(settings: Settings) -> sa.Engine:
    # Migrations are applied once, by the entry point (`payops db migrate`, serve, refresh), never per sensor tick.
    return db.engine(settings)


class WarehouseResource(dg.ConfigurableResource):
    """The payops warehouse: the embedded Postgres under PAYOPS_HOME, or WAREHOUSE_URL when set."""

    payops_home: str

    def settings(self) -> Settings:
        return Settings.from_env({**os.environ, "PAYOPS_HOME": self.payops_home})

    def engine(self) -> sa.Engine:
        """One pooled engine per warehouse and process."""
        return _engine(self.settings())

    def app_engine(self) -> sa.Engine:
        return db.app_engine(self.settings())

    @property
    def stripe_landing_dir(self) -> Path:
        return self.settings().stripe_landing_dir

    def notifier(self) -> Notifier:
        """Alerts through the channels of PAYOPS_HOME/payops.toml (checked when `payops serve` starts)."""
        return Notifier(self.engine(), load_alert_config(self.settings()))


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(
        resources={
            "warehouse": WarehouseResource(payops_home=dg.EnvVar("PAYOPS_HOME")),
            "dbt": DbtCliResource(project_dir=payops_dbt_project()),
        }
    )
