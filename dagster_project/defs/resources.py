"""Resources shared by every domain, configured from the environment and built once."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import cache
from pathlib import Path

import dagster as dg
import sqlalchemy as sa
from dagster_dbt import DbtCliResource

from dagster_project.project import payops_dbt_project
from ingest.notify import Notifier, load_alert_config
from ingest.refresh_lock import refresh_lock
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
