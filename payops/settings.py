"""Every setting payops reads from the environment, in one place."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class SettingsError(ValueError):
    """A setting has a value payops cannot use; the message says which and what to do."""


@dataclass(frozen=True)
class Settings:
    home: Path
    """PAYOPS_HOME: embedded Postgres data, Dagster's home, landing folders. Default ./.payops."""
    warehouse_url: str | None
    """WAREHOUSE_URL: any Postgres 14+. Unset means the embedded Postgres under PAYOPS_HOME."""
    app_database_url: str | None
    """APP_DATABASE_URL: the platform's own database. Unset means schema `app` in the warehouse."""
    timezone: str
    """PAYOPS_TIMEZONE: the reporting time zone that days and months are cut in."""
    dagster_home: Path
    """DAGSTER_HOME: Dagster's instance folder. Default PAYOPS_HOME/dagster."""
    dagster_pg_url: str | None
    """DAGSTER_PG_URL: where Dagster keeps runs, schedules and cursors. Default: the warehouse."""

    @classmethod
    def from_env(cls, environ: os._Environ[str] | dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        home = Path(env.get("PAYOPS_HOME") or ".payops").expanduser().resolve()
        timezone = env.get("PAYOPS_TIMEZONE") or "UTC"
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise SettingsError(
                f"PAYOPS_TIMEZONE={timezone!r} is not an IANA time zone; use a name such as 'UTC' or 'Europe/Lisbon'."
            ) from exc
        return cls(
            home=home,
            warehouse_url=env.get("WAREHOUSE_URL") or None,
            app_database_url=env.get("APP_DATABASE_URL") or None,
            timezone=timezone,
            dagster_home=Path(env.get("DAGSTER_HOME") or home / "dagster").expanduser().resolve(),
            dagster_pg_url=env.get("DAGSTER_PG_URL") or None,
        )

    @property
    def pgdata(self) -> Path:
        return self.home / "pgdata"

    @property
    def stripe_landing_dir(self) -> Path:
        """Where generated or exported Stripe event files wait for `ingest replay`."""
        return self.home / "landing" / "stripe"
