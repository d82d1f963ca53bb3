"""Every setting payops reads from the environment, in one place."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from payops.errors import PayopsError


def _without_password(url: str | None) -> str | None:
    return None if url is None else make_url(url).render_as_string(hide_password=True)


class SettingsError(PayopsError, ValueError):
    """A setting has a value payops cannot use; the message says which and what to do."""


POSTGRES_SCHEMES = ("postgresql", "postgres")


def _postgres_url(name: str, url: str | None) -> str | None:
    """The URL if it is a Postgres URL; SettingsError naming the setting otherwise (never echoing a password)."""
    if url is None:
        return None
    try:
        parsed = make_url(url)
        if parsed.port is not None and not 0 < parsed.port < 65536:
            raise ValueError("port out of range")
    except (ArgumentError, ValueError):
        raise SettingsError(
            f"{name} is not a database URL; write it as postgresql://user:password@host:5432/database"
        ) from None
    backend = parsed.get_backend_name()
    if backend not in POSTGRES_SCHEMES:
        raise SettingsError(
            f"{name} uses {backend}://, which payops does not support: it needs Postgres 14 or newer "
            "(postgresql://user:password@host:5432/database)"
        )
    return url


@dataclass(frozen=True, repr=False)
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
    stripe_webhook_secrets: tuple[str, ...] = ()
    """STRIPE_WEBHOOK_SECRET: the endpoint's signing secret; comma-separated while a rotation is under way."""
    stripe_api_key: str | None = None
    """STRIPE_API_KEY: a restricted key that can read events. Unset: the Events API sync is skipped."""
    stripe_api_base: str | None = None
    """STRIPE_API_BASE: another address for the Stripe API (a local test server). Unset: Stripe's own."""
    export_key: str | None = None
    """PAYOPS_EXPORT_KEY: signs compliance exports and keys the hashes of personal data in them. Unset: no exports."""

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
        urls = {name: _postgres_url(name, env.get(name) or None)
                for name in ("WAREHOUSE_URL", "APP_DATABASE_URL", "DAGSTER_PG_URL")}
        return cls(
            home=home,
            warehouse_url=urls["WAREHOUSE_URL"],
            app_database_url=urls["APP_DATABASE_URL"],
            timezone=timezone,
            dagster_home=Path(env.get("DAGSTER_HOME") or home / "dagster").expanduser().resolve(),
            dagster_pg_url=urls["DAGSTER_PG_URL"],
            stripe_webhook_secrets=tuple(
                secret.strip() for secret in (env.get("STRIPE_WEBHOOK_SECRET") or "").split(",") if secret.strip()
            ),
            stripe_api_key=env.get("STRIPE_API_KEY") or None,
            stripe_api_base=env.get("STRIPE_API_BASE") or None,
            export_key=env.get("PAYOPS_EXPORT_KEY") or None,
        )

    def __repr__(self) -> str:
        # Secrets never reach logs, even through a debug print of the settings.
        hidden = {"stripe_webhook_secrets": "***" if self.stripe_webhook_secrets else "()",
                  "stripe_api_key": "***" if self.stripe_api_key else None,
                  "export_key": "***" if self.export_key else None,
                  **{name: _without_password(getattr(self, name))
                     for name in ("warehouse_url", "app_database_url", "dagster_pg_url")}}
        shown = ", ".join(f"{name}={hidden.get(name, getattr(self, name))!r}" for name in self.__dataclass_fields__)
        return f"Settings({shown})"

    @property
    def pgdata(self) -> Path:
        return self.home / "pgdata"

    @property
    def stripe_landing_dir(self) -> Path:
        """Where generated or exported Stripe event files wait for `ingest replay`."""
        return self.home / "landing" / "stripe"

    @property
    def stripe_balance_landing_dir(self) -> Path:
        """Where balance transactions listed from Stripe ahead of time (the demo's) wait, apart from events."""
        return self.home / "landing" / "stripe_balance"
