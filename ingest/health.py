"""Is payops healthy? The checks `payops health`, the receiver's /healthz and monitoring share.

Each check answers `ok`, `warn` or `fail` with one line saying why. The report fails when any check fails, which
`payops health` turns into a non-zero exit code for cron and Kubernetes probes. A warning (no Dagster daemon when
refreshes run from cron, data between the freshness policy's warn and error ages) does not fail it.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from ingest.freshness import freshness_policy
from ingest.webhook_health import Thresholds, evaluate, measure, thresholds_from_env
from payops import db
from payops.settings import Settings

DAEMON_HEARTBEAT_MAX_AGE = timedelta(minutes=5)
"""The daemon beats every 20 s or so; five minutes without one means it is gone or wedged."""
MIN_FREE_BYTES = 1 << 30
WARN_FREE_SHARE = 0.10

LAST_REFRESHES = sa.text("""
select (select max(finished_at) from ops.refreshes where succeeded) as last_success,
       latest.finished_at, latest.succeeded, latest.tests_failed, latest.tests_warned, latest.failures
from (select 1) one
left join lateral (select * from ops.refreshes order by finished_at desc limit 1) latest on true
""")


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    """ok, warn or fail"""
    detail: str


@dataclass
class HealthReport:
    checked_at: datetime
    checks: list[Check] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return all(check.status != "fail" for check in self.checks)

    def as_dict(self) -> dict:
        return {"healthy": self.healthy, "checked_at": self.checked_at.isoformat(),
                "checks": [asdict(check) for check in self.checks]}


def check_database(settings: Settings) -> tuple[Check, sa.Engine | None]:
    if not settings.warehouse_url and not db.embedded_running(settings):
        # Not started here: a probe must observe, not start the server it probes.
        return Check("database", "fail", f"the embedded Postgres under {settings.pgdata} is not running"), None
    try:
        engine = db.engine(settings)
    except db.WarehouseUnavailable as exc:
        return Check("database", "fail", str(exc).splitlines()[0]), None
    return Check("database", "ok", f"{db.masked(engine.url)} answers"), engine


def check_migrations(engine: sa.Engine) -> Check:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(db.MIGRATIONS_DIR))
    heads = set(ScriptDirectory.from_config(config).get_heads())
    with engine.connect() as conn:
        exists = conn.execute(sa.text("select to_regclass('ops.alembic_version')")).scalar()
        current = set(conn.scalars(sa.text("select version_num from ops.alembic_version"))) if exists else set()
    if current == heads:
        return Check("migrations", "ok", f"at {', '.join(sorted(heads))}")
    return Check("migrations", "fail", f"at {', '.join(sorted(current)) or 'none'}, newest "
                 f"{', '.join(sorted(heads))}: run `payops db migrate`")


def check_refreshes(engine: sa.Engine, now: datetime) -> list[Check]:
    """The last successful refresh against the freshness policy, and the dbt tests of the last build."""
    policy = freshness_policy()
    with engine.connect() as conn:
        row = conn.execute(LAST_REFRESHES).one()
    if row.last_success is None:
        freshness = Check("last_refresh", "fail", "no refresh has succeeded yet: run `payops refresh`")
    else:
        age = now - row.last_success
        status = {"ok": "ok", "warn": "warn", "error": "fail"}[policy.status(age)]
        freshness = Check("last_refresh", status,
                          f"last success {age.total_seconds() / 3600:.1f} h ago (warn after "
                          f"{policy.warn_after.total_seconds() / 3600:.0f} h, stale after "
                          f"{policy.error_after.total_seconds() / 3600:.0f} h)")
    if row.finished_at is None:
        tests = Check("dbt_tests", "warn", "no dbt build recorded yet")
    elif row.tests_failed:
        tests = Check("dbt_tests", "fail", f"{row.tests_failed} dbt test(s) failed in the last build: "
                      + ", ".join(row.failures[:5]))
    elif not row.succeeded:
        tests = Check("dbt_tests", "fail", "the last build failed: " + (", ".join(row.failures[:5]) or "see Dagster"))
    else:
        tests = Check("dbt_tests", "warn" if row.tests_warned else "ok",
                      f"last build passed, {row.tests_warned} warning(s)")
    return [freshness, tests]


def check_webhooks(engine: sa.Engine, thresholds: Thresholds) -> Check:
    alerts = evaluate(measure(engine), thresholds)
    if not alerts:
        return Check("webhooks", "ok", "lag, backlog and failed events within thresholds")
    return Check("webhooks", "fail", "; ".join(alert.message for alert in alerts))


def check_dagster_daemon(settings: Settings, now: datetime) -> Check:
    try:
        url = db.dagster_storage_url(settings, create=False)
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool, connect_args={"connect_timeout": 5})
        with engine.connect() as conn:
            if conn.execute(sa.text("select to_regclass('daemon_heartbeats')")).scalar() is None:
                return Check("dagster_daemon", "warn", "no Dagster daemon has run here (refreshes from cron only?)")
            bodies = conn.scalars(sa.text("select body from daemon_heartbeats")).all()
    except sa.exc.SQLAlchemyError as exc:
        return Check("dagster_daemon", "warn", f"Dagster's storage cannot be read: {type(exc).__name__}")
    if not bodies:
        return Check("dagster_daemon", "warn", "no Dagster daemon has run here (refreshes from cron only?)")
    newest = max(datetime.fromtimestamp(json.loads(body)["timestamp"], UTC) for body in bodies)
    age = now - newest
    if age > DAEMON_HEARTBEAT_MAX_AGE:
        return Check("dagster_daemon", "fail", f"last heartbeat {age.total_seconds() / 60:.0f} min ago: "
                     "schedules and sensors are not running")
    return Check("dagster_daemon", "ok", f"heartbeat {age.total_seconds():.0f} s ago")


def check_disk(settings: Settings) -> Check:
    settings.home.mkdir(parents=True, exist_ok=True)
    usage = shutil.disk_usage(settings.home)
    free = f"{usage.free / (1 << 30):.1f} GiB free of {usage.total / (1 << 30):.0f} GiB under {settings.home}"
    if usage.free < MIN_FREE_BYTES:
        return Check("disk", "fail", free)
    return Check("disk", "warn" if usage.free < WARN_FREE_SHARE * usage.total else "ok", free)


def run_checks(settings: Settings, thresholds: Thresholds | None = None, now: datetime | None = None) -> HealthReport:
    """Every check; the database-backed ones are reported as failed, not skipped, when the database is down."""
    now = now or datetime.now(UTC)
    report = HealthReport(checked_at=now)
    database, engine = check_database(settings)
    report.checks.append(database)
    later: list[Callable[[], Check | list[Check]]] = []
    if engine is not None:
        later = [lambda: check_migrations(engine), lambda: check_refreshes(engine, now),
                 lambda: check_webhooks(engine, thresholds or thresholds_from_env())]
    else:
        report.checks += [Check(name, "fail", "database unreachable")
                          for name in ("migrations", "last_refresh", "dbt_tests", "webhooks")]
    later += [lambda: check_dagster_daemon(settings, now), lambda: check_disk(settings)]
    for check in later:
        try:
            outcome = check()
        except sa.exc.ProgrammingError as exc:
            # A table missing because migrations are behind: the migrations check already says what to run.
            outcome = Check("schema", "fail", str(exc.orig).splitlines()[0])
        report.checks += outcome if isinstance(outcome, list) else [outcome]
    return report
