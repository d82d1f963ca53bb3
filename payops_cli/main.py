"""`payops`: the root command group. Each command is a thin shell over ingest/, demo/ and dagster_project/."""

from __future__ import annotations

import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from payops.db import embedded_running, masked, ready_engine, stop_embedded, warehouse_url
from payops.settings import Settings
from payops_cli.stripe_sync import stripe_events_command
from payops_cli.support import CONTEXT_SETTINGS, current_settings, friendly_errors
from payops_cli.users import users
from payops_cli.webhooks import webhooks
from streamlit_app import sign_in

BIN = Path(sys.executable).parent
REPO_ROOT = Path(__file__).resolve().parent.parent
DAGSTER_PORT = 3000
STREAMLIT_PORT = 8501
WEBHOOK_PORT = 8765
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


@main.command("demo-data")
@click.option("--days", default=90, show_default=True, help="Days of history.")
@click.option("--students", default=500, show_default=True, help="Students (about 20 events each over 90 days).")
@click.option("--seed", default=7, show_default=True, help="Random seed: the same seed and end day give the same data.")
@click.option("--end", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Last day of data (UTC). Default: yesterday.")
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
main.add_command(webhooks)
main.add_command(users)


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
@friendly_errors
def refresh() -> None:
    """Run the whole asset graph once through Dagster: ingest, then dbt build."""
    from dagster_project.refresh import refresh as run_refresh

    result = run_refresh(current_settings())
    materialized = {str(e.asset_key.to_user_string()) for e in result.get_asset_materialization_events()}
    click.echo(f"materialized {len(materialized)} assets in run {result.run_id}")
    if not result.success:
        failures = [e.message for e in result.all_events if e.is_step_failure]
        raise click.ClickException("refresh failed:\n" + "\n".join(f for f in failures if f))


@main.command()
@click.option("--dagster-port", default=DAGSTER_PORT, show_default=True)
@click.option("--streamlit-port", default=STREAMLIT_PORT, show_default=True)
@click.option("--webhook-port", default=WEBHOOK_PORT, show_default=True,
              help="The Stripe webhook receiver's port; it runs when STRIPE_WEBHOOK_SECRET is set.")
@friendly_errors
def serve(dagster_port: int, streamlit_port: int, webhook_port: int) -> None:
    """Serve the Dagster UI, Streamlit and the webhook receiver until Ctrl-C.

    Dagster runs its schedules and sensors too. The receiver runs when STRIPE_WEBHOOK_SECRET is set.
    """
    from dagster_project.environment import parse_dbt_project, prepare

    s = current_settings()
    ready_engine(s)
    prepare(s)
    parse_dbt_project()
    services = {
        "Dagster UI": (f"http://127.0.0.1:{dagster_port}",
                       [str(BIN / "dagster"), "dev", "-m", "dagster_project.definitions",
                        "-h", "127.0.0.1", "-p", str(dagster_port)]),
        "Streamlit": (f"http://127.0.0.1:{streamlit_port}",
                      [str(BIN / "streamlit"), "run", str(REPO_ROOT / "streamlit_app" / "app.py"),
                       "--server.headless", "true", "--server.port", str(streamlit_port),
                       "--browser.gatherUsageStats", "false"]),
    }
    services.update(sign_in.serve_sign_in(s, streamlit_port))
    if s.stripe_webhook_secrets:
        services["Webhooks"] = (f"http://127.0.0.1:{webhook_port}/webhooks/stripe",
                                [str(BIN / "payops"), "webhooks", "serve", "--port", str(webhook_port)])
    else:
        click.echo("The webhook receiver is not started: set STRIPE_WEBHOOK_SECRET to run it.")
    # dagster-dbt looks for `dbt` on PATH under `dagster dev`; the venv's bin holds it.
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    # Own sessions, so Ctrl-C reaches only us and we stop the children in order.
    processes = {name: subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, start_new_session=True)
                 for name, (_, cmd) in services.items()}
    click.echo("")
    for name, (address, _) in services.items():
        click.echo(f"{name + ':':12} {address}")
    click.echo("Ctrl-C stops them all.")
    try:
        while all(p.poll() is None for p in processes.values()):
            time.sleep(0.5)
        stopped = [name for name, p in processes.items() if p.poll() is not None]
        raise click.ClickException(f"{', '.join(stopped)} stopped unexpectedly; see its output above.")
    except KeyboardInterrupt:
        click.echo("\nstopping…")
    finally:
        _stop_all(processes.values())


def _stop_all(processes: Any) -> None:
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
    deadline = time.monotonic() + 15
    for process in processes:
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def _demo_webhook_secret(s: Settings) -> str:
    """A per-installation secret for the demo receiver, kept out of the terminal and the logs."""
    path = s.home / DEMO_SECRET_FILE
    if not path.exists():
        path.write_text(f"whsec_{secrets.token_hex(24)}")
        path.chmod(0o600)
    return path.read_text().strip()


@main.command()
@click.option("--days", default=90, show_default=True)
@click.option("--students", default=500, show_default=True)
@click.option("--seed", default=7, show_default=True)
@click.pass_context
@friendly_errors
def demo(ctx: click.Context, days: int, students: int, seed: int) -> None:
    """Set up demo data and a refresh on the first run, then serve the apps."""
    s = current_settings()
    started_here = not s.warehouse_url and not embedded_running(s)
    ready_engine(s)
    marker = s.home / "demo-data.done"
    if marker.exists():
        click.echo(f"reusing demo data in {s.home} (delete {marker.name} to regenerate)")
    else:
        ctx.invoke(demo_data, days=days, students=students, seed=seed, end=None, fmt="jsonl", out=None, no_app=False)
        ctx.invoke(refresh)
        marker.write_text(f"days={days} students={students} seed={seed} generated={date.today()}\n")
    if not s.stripe_webhook_secrets:
        os.environ["STRIPE_WEBHOOK_SECRET"] = _demo_webhook_secret(s)
        click.echo(f"The demo receiver signs with the secret in {s.home / DEMO_SECRET_FILE}; send it events with\n"
                   f"  STRIPE_WEBHOOK_SECRET=$(cat {s.home / DEMO_SECRET_FILE}) payops webhooks send FILE.jsonl")
    os.environ.update(sign_in.demo_sign_in(ready_engine(s)))
    try:
        ctx.invoke(serve)
    finally:
        if started_here and stop_embedded(s):
            click.echo("stopped the embedded Postgres")
