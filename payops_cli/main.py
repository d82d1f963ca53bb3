"""`payops`: the root command group. Each command is a thin shell over ingest/, demo/ and dagster_project/."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import click

from payops.db import embedded_running, masked, ready_engine, stop_embedded, warehouse_url
from payops.settings import Settings
from payops_cli import services
from payops_cli.archive import archive, partitions
from payops_cli.audit import audit
from payops_cli.export import export
from payops_cli.health import health
from payops_cli.reports import notebooks, reports
from payops_cli.stripe_balance import stripe_balance_command
from payops_cli.stripe_sync import stripe_events_command
from payops_cli.support import CONTEXT_SETTINGS, current_settings, friendly_errors
from payops_cli.users import users
from payops_cli.webhooks import webhooks
from streamlit_app import sign_in

DAGSTER_PORT = 3000
STREAMLIT_PORT = 8501
WEBHOOK_PORT = 8765
LOCAL_STRIPE_PORT = 8420
DEMO_SECRET_FILE = "demo-webhook-secret"


@click.group(context_settings=CONTEXT_SETTINGS)
@click.option("-v", "--verbose", is_flag=True, help="Log progress details.")
def main(verbose: bool) -> None:
    """payops: a payment-operations warehouse for Stripe and your platform's purchases.

    \b
    Settings come from the environment:
      PAYOPS_HOME       data folder: embedded Postgres, Dagster home, landing files (default ./.payops)
      WAREHOUSE_URL     any Postgres 14+ instead of the embedded one
      APP_DATABASE_URL  the platform's database (default: schema `app` in the warehouse)
      PAYOPS_TIMEZONE   reporting time zone for days and months (default UTC)
      STRIPE_API_KEY    a key that can read events, for the Events API sync (STRIPE_API_BASE: another address)
      STRIPE_WEBHOOK_SECRET  the webhook endpoint's signing secret(s), comma-separated during a rotation
    """
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")


# --- db -------------------------------------------------------------------------------------------


@main.group()
def db() -> None:
    """Start, stop or locate the warehouse (the embedded Postgres unless WAREHOUSE_URL is set)."""


@db.command("start")
@friendly_errors
def db_start() -> None:
    """Start the embedded Postgres under PAYOPS_HOME (or reuse it) and apply migrations."""
    s = current_settings()
    engine = ready_engine(s)
    click.echo(f"warehouse ready: {masked(engine.url)}")


@db.command("migrate")
@friendly_errors
def db_migrate() -> None:
    """Apply our alembic migrations (what every entry point does once, before anything else)."""
    engine = ready_engine(current_settings())
    click.echo(f"migrations current on {masked(engine.url)}")


@db.command("stop")
@friendly_errors
def db_stop() -> None:
    """Stop the embedded Postgres under PAYOPS_HOME."""
    s = current_settings()
    if s.warehouse_url:
        raise click.ClickException("WAREHOUSE_URL is set: payops does not manage that server.")
    click.echo("stopped" if stop_embedded(s) else f"no embedded Postgres is running under {s.pgdata}")


@db.command("url")
@click.option("--driver", type=click.Choice(["psycopg", "psycopg2"]), default="psycopg", show_default=True)
@click.option("--show-password", is_flag=True, help="Print the password instead of ***.")
@friendly_errors
def db_url(driver: str, show_password: bool) -> None:
    """Print the warehouse URL (starting the embedded Postgres if needed)."""
    url = warehouse_url(current_settings(), driver=driver)
    click.echo(url.render_as_string(hide_password=not show_password))


# --- demo data ------------------------------------------------------------------------------------

# Checked by click, so a wrong value is one line of usage error, not a traceback from deep inside.
DAYS = click.IntRange(1, 3660)
STUDENTS = click.IntRange(1, 5_000_000)
SEED = click.IntRange(0, 2**32 - 1)
EARLIEST_END = date(2000, 1, 1)


def _end_day_in_range(ctx: click.Context, param: click.Parameter, end: datetime | None) -> datetime | None:
    latest = datetime.now(UTC).date() + timedelta(days=366)
    if end is not None and not EARLIEST_END <= end.date() <= latest:
        raise click.BadParameter(f"{end:%Y-%m-%d} is outside {EARLIEST_END} .. {latest}.")
    return end



@main.command("demo-data")
@click.option("--days", type=DAYS, default=90, show_default=True, help="Days of history.")
@click.option("--students", type=STUDENTS, default=500, show_default=True,
              help="Students (about 20 events each over 90 days).")
@click.option("--seed", type=SEED, default=7, show_default=True,
              help="Random seed: the same seed and end day give the same data.")
@click.option("--end", type=click.DateTime(["%Y-%m-%d"]), default=None, callback=_end_day_in_range,
              help="Last day of data (UTC), from 2000-01-01 to a year from today. Default: yesterday.")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "files"]), default="jsonl", show_default=True,
              help="JSON Lines files, or one JSON file per event.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where event files go. Default: PAYOPS_HOME/landing/stripe.")
@click.option("--no-app", is_flag=True, help="Only write Stripe events, not the platform's tables.")
@friendly_errors
def demo_data(days: int, students: int, seed: int, end: datetime | None, fmt: str, out: Path | None,
              no_app: bool) -> None:
    """Generate the platform's tables and the Stripe events they produced.

    Replaces the demo tables in the platform database (schema `app`) and the event files in --out.
    Load them with `payops ingest replay` and `payops ingest app`, or `payops refresh`.
    """
    from demo.generate import generate_demo_data

    s = current_settings()
    last_day = end.date() if end else datetime.now(UTC).date() - timedelta(days=1)
    summary = generate_demo_data(s, days=days, students=students, seed=seed, end=last_day, out_dir=out, fmt=fmt,
                                 progress=True, write_app=not no_app)
    click.echo(f"{summary.events_written} events ({summary.unique_events} unique) in {summary.files} file(s) "
               f"under {summary.out_dir}")
    for table, rows in summary.app_rows.items():
        click.echo(f"  app.{table}: {rows} rows")


# --- ingest ---------------------------------------------------------------------------------------


@main.group()
def ingest() -> None:
    """Load data into the warehouse's raw schema."""


@ingest.command("replay")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--quiet", is_flag=True, help="No progress bar.")
@friendly_errors
def ingest_replay(paths: tuple[Path, ...], quiet: bool) -> None:
    """Load Stripe event JSON files or folders into raw.stripe_events.

    PATHS are .json files (one event, or a Stripe list page) or .jsonl files (one event per line), or
    folders holding them. Events already stored are counted as duplicates and change nothing. Malformed
    events are reported with file and line and skipped; the command then exits with status 1.
    """
    from ingest.stripe_events import replay

    result = replay(ready_engine(current_settings()), paths, progress=not quiet)
    for rejection in result.rejections:
        click.echo(f"rejected {rejection.location}: {rejection.reason}", err=True)
    click.echo(result.summary())
    if result.rejected:
        sys.exit(1)


ingest.add_command(stripe_events_command)
ingest.add_command(stripe_balance_command)
main.add_command(webhooks)
main.add_command(users)
main.add_command(export)
main.add_command(audit)
main.add_command(health)
main.add_command(reports)
main.add_command(notebooks)
main.add_command(archive)
main.add_command(partitions)


@ingest.command("app")
@friendly_errors
def ingest_app() -> None:
    """Copy the platform's tables changed since the last copy into raw.app_rows."""
    from ingest.app_tables import copy_app_tables
    from payops.db import app_engine

    s = current_settings()
    for copy in copy_app_tables(app_engine(s), ready_engine(s)):
        click.echo(f"{copy.table}: {copy.changed} changed of {copy.read} read (watermark {copy.watermark})")


# --- orchestration --------------------------------------------------------------------------------


@main.command()
@click.option("--full", is_flag=True,
              help="Rebuild every model from scratch and run every dbt test (the nightly build).")
@click.option("--no-wait", is_flag=True,
              help="When another refresh is running, say since when and exit (status 0) instead of waiting.")
@friendly_errors
def refresh(full: bool = False, no_wait: bool = False) -> None:
    """Run the whole asset graph once through Dagster: ingest, processing, dbt build, alerts.

    One refresh runs at a time (the hourly schedule's included): a second one waits for the first to end.
    """
    from dagster_project.defs.monitoring.alerts import refresh_failed_key
    from dagster_project.refresh import refresh as run_refresh
    from ingest.notify import Alert, notifier_for
    from ingest.refresh_lock import refresh_lock

    s = current_settings()

    def waiting(since: datetime | None) -> None:
        running = f"a refresh has been running since {since:%Y-%m-%d %H:%M:%S %Z}" if since else "a refresh is running"
        click.echo(f"{running}; {'not starting another' if no_wait else 'waiting for it to end'}")

    with refresh_lock(ready_engine(s), waiting, wait=not no_wait) as held:
        if not held:
            return
        result = run_refresh(s, full_build=full)
        materialized = {str(e.asset_key.to_user_string()) for e in result.get_asset_materialization_events()}
        click.echo(f"materialized {len(materialized)} assets in run {result.run_id}")
    # From cron no daemon runs the run-failure sensor: the command alerts (and resolves) under the same key.
    notifier = notifier_for(ready_engine(s), s)
    key = refresh_failed_key(result.dagster_run.job_name)
    if result.success:
        notifier.resolve(key)
        return
    failures = [e.message for e in result.all_events if e.is_step_failure and e.message]
    notifier.open(Alert(key, "error", f"payops refresh failed: {failures[0] if failures else 'see Dagster'}",
                        details={"run_id": result.run_id}))
    raise click.ClickException("refresh failed:\n" + "\n".join(failures))


@main.command()
@click.option("--dagster-port", default=DAGSTER_PORT, show_default=True)
@click.option("--streamlit-port", default=STREAMLIT_PORT, show_default=True)
@click.option("--webhook-port", default=WEBHOOK_PORT, show_default=True,
              help="The Stripe webhook receiver's port; it runs when STRIPE_WEBHOOK_SECRET is set.")
@friendly_errors
def serve(dagster_port: int, streamlit_port: int, webhook_port: int) -> None:
    """Serve the Dagster UI and daemon, Streamlit and the webhook receiver until stopped.

    \b
    Dagster runs as dagster-webserver and dagster-daemon (schedules, sensors, run retries), code location
    `payops`. The receiver runs when STRIPE_WEBHOOK_SECRET is set. Every service listens on
    PAYOPS_BIND_HOST (default 127.0.0.1; 0.0.0.0 exposes them all). Their logs: PAYOPS_HOME/logs/.
    Ctrl-C, SIGTERM and SIGHUP stop them all, and the embedded Postgres if this command started it;
    a service that dies stops the others.
    """
    s = current_settings()
    started_here = not s.warehouse_url and not embedded_running(s)
    with services.stop_on_signals():
        try:
            _serve(s, dagster_port, streamlit_port, webhook_port)
        finally:
            if started_here and stop_embedded(s):
                click.echo("stopped the embedded Postgres")


def _serve(s: Settings, dagster_port: int, streamlit_port: int, webhook_port: int) -> None:
    from dagster_project.environment import workspace_file
    from dagster_project.refresh import start

    services.private_home(s)
    with services.output_to(services.logs_dir(s) / "serve.log"):
        start(s)
    children = services.payops_services(s, dagster_port, streamlit_port, webhook_port, workspace_file(s))
    if not (s.stripe_api_key or s.stripe_api_base):
        # Admin actions need a Stripe: without a key or address, a local one seeded with the warehouse's charges
        # and disputes, which the app's forms act against (the children inherit this environment).
        os.environ["STRIPE_API_BASE"] = f"http://127.0.0.1:{LOCAL_STRIPE_PORT}"
        children.append(services.Service("Local Stripe", [sys.executable, "-m", "actions.local_stripe", "--port",
                                                          str(LOCAL_STRIPE_PORT), "--seed"],
                                         os.environ["STRIPE_API_BASE"], ""))
    for name, (address, command) in sign_in.serve_sign_in(s, streamlit_port).items():
        children.append(services.Service(name, command, address, f"{address}/.well-known/openid-configuration"))
    if not s.stripe_webhook_secrets:
        click.echo("The webhook receiver is not started: set STRIPE_WEBHOOK_SECRET to run it.")
    click.echo(f"starting {', '.join(c.name for c in children)} (logs in {services.logs_dir(s)})")
    # Installed again here: loading Dagster (the refresh, the manifest) replaces SIGTERM's handler with its own.
    with services.stop_on_signals():
        try:
            services.start(children, s, dict(os.environ))
            services.wait_until_ready(children, click.echo)
            click.echo("Ctrl-C stops them all.")
            services.supervise(children)
        except KeyboardInterrupt:
            click.echo("\nstopping (Ctrl-C)…")
        except services.Stop as stop:
            click.echo(f"\nstopping ({stop})…")
        finally:
            services.stop_all(children)


def _demo_webhook_secret(s: Settings) -> str:
    """A per-installation secret for the demo receiver, kept out of the terminal and the logs."""
    path = s.home / DEMO_SECRET_FILE
    if not path.exists():
        path.write_text(f"whsec_{secrets.token_hex(24)}")
        path.chmod(0o600)
    return path.read_text().strip()


class _Stages:
    """One progress line per demo stage; the stage's own output goes to PAYOPS_HOME/logs/demo.log."""

    def __init__(self, s: Settings, total: int):
        self.log = services.logs_dir(s) / "demo.log"
        self.total, self.number = total, 0

    @contextlib.contextmanager
    def stage(self, title: str) -> Iterator[None]:
        self.number += 1
        click.echo(f"[{self.number}/{self.total}] {title}…", nl=False)
        began = time.monotonic()
        try:
            with services.output_to(self.log):
                yield
        except BaseException:
            click.echo(f" failed; see {self.log}")
            raise
        click.echo(f" done ({time.monotonic() - began:.0f} s)")


@main.command()
@click.option("--days", type=DAYS, default=90, show_default=True)
@click.option("--students", type=STUDENTS, default=500, show_default=True)
@click.option("--seed", type=SEED, default=7, show_default=True)
@click.option("--dagster-port", default=DAGSTER_PORT, show_default=True)
@click.option("--streamlit-port", default=STREAMLIT_PORT, show_default=True)
@click.option("--webhook-port", default=WEBHOOK_PORT, show_default=True)
@click.pass_context
@friendly_errors
def demo(ctx: click.Context, days: int, students: int, seed: int, dagster_port: int, streamlit_port: int,
         webhook_port: int) -> None:
    """Set up demo data and a refresh on the first run, then serve the apps (what `make demo` runs).

    The terminal shows one line per stage and the addresses once each service answers; everything else goes
    to PAYOPS_HOME/logs/. Ctrl-C, SIGTERM or SIGHUP stop the services and the embedded Postgres.
    """
    s = current_settings()
    services.private_home(s)
    started_here = not s.warehouse_url and not embedded_running(s)
    marker = s.home / "demo-data.done"
    stages = _Stages(s, total=2 if marker.exists() else 4)
    with services.stop_on_signals():
        try:
            with stages.stage("warehouse: embedded Postgres and migrations"):
                ready_engine(s)
            if marker.exists():
                click.echo(f"reusing demo data in {s.home} (delete {marker} to regenerate)")
            else:
                with stages.stage(f"demo data: {days} days, {students} students"):
                    ctx.invoke(demo_data, days=days, students=students, seed=seed, end=None, fmt="jsonl", out=None,
                               no_app=False)
                with stages.stage("first refresh: ingest, processing, dbt build (a few minutes)"):
                    ctx.invoke(refresh)
                marker.write_text(f"days={days} students={students} seed={seed} generated={date.today()}\n")
            if not s.stripe_webhook_secrets:
                os.environ["STRIPE_WEBHOOK_SECRET"] = _demo_webhook_secret(s)
                click.echo(f"the demo receiver's secret is in {s.home / DEMO_SECRET_FILE}: send it events with\n"
                           f"  STRIPE_WEBHOOK_SECRET=$(cat {s.home / DEMO_SECRET_FILE}) payops webhooks send FILE")
            os.environ.update(sign_in.demo_sign_in(ready_engine(s)))
            click.echo(f"[{stages.total}/{stages.total}] services: Dagster, Streamlit, webhook receiver")
            _serve(current_settings(), dagster_port, streamlit_port, webhook_port)
        except (KeyboardInterrupt, services.Stop):
            click.echo("\nstopping…")
        finally:
            if started_here and stop_embedded(s):
                click.echo("stopped the embedded Postgres")
