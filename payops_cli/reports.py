"""`payops reports render` and `payops notebooks`: the notebook reports in reports/, rendered or opened."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import click

from payops.db import ready_engine
from payops.reports import ALL_CURRENCIES, REPORTS, REPORTS_DIR, ReportFailed, render
from payops_cli.support import CONTEXT_SETTINGS, current_settings, friendly_errors


@click.group(context_settings=CONTEXT_SETTINGS)
def reports() -> None:
    """Notebook reports (reports/*.ipynb) rendered to HTML from the analytics marts.

    \b
    Reports: monthly_payments_review, dispute_risk_review, webhook_reliability.
    Dagster renders them too, one partition per month, after every refresh.
    """


@reports.command("render")
@click.option("--report", "names", multiple=True, type=click.Choice(list(REPORTS)),
              help="A report to render (repeatable). Default: every report.")
@click.option("--period", required=True, metavar="YYYY-MM", help="The month to report on, e.g. 2026-06.")
@click.option("--currency", default=ALL_CURRENCIES, show_default=True,
              help="One lowercase ISO currency code, or 'all'.")
@click.option("--livemode/--testmode", default=True, show_default=True, help="Live-mode or test-mode money.")
@friendly_errors
def render_command(names: tuple[str, ...], period: str, currency: str, livemode: bool) -> None:
    """Execute each report's notebook for one month and write, under PAYOPS_HOME/reports/<report>/:

    \b
      <period>.html   the report, code hidden, charts embedded
      <period>.ipynb  the executed notebook, to open and extend
      <period>.json   its headline figures (net_amount per currency as decimal strings, ...)

    A currency other than 'all' or --testmode add '-<currency>' / '-test' to the file names. A cell that
    raises fails the command with that cell's error; the other reports still render.
    """
    settings = current_settings()
    ready_engine(settings)
    failures = []
    for name in names or REPORTS:
        try:
            rendered = render(settings, name, period, currency, livemode, progress=sys.stderr.isatty())
        except ReportFailed as exc:
            click.echo(f"{name}: FAILED", err=True)
            failures.append(str(exc))
            continue
        click.echo(f"{name} {rendered.period}: {rendered.html} ({rendered.seconds:.1f} s)")
    if failures:
        raise click.ClickException("\n".join(failures))


@click.command("notebooks", context_settings=CONTEXT_SETTINGS)
@click.option("--port", default=8888, show_default=True)
@click.option("--no-browser", is_flag=True, help="Print the address instead of opening a browser.")
@friendly_errors
def notebooks(port: int, no_browser: bool) -> None:
    """Open JupyterLab on reports/ with the warehouse connected.

    Notebooks read the marts with `from payops import notebook as nb; nb.read_mart("payments_daily", ...)`;
    the kernel gets this warehouse (PAYOPS_HOME, WAREHOUSE_URL) and reporting time zone. Ctrl-C stops it.
    """
    settings = current_settings()
    ready_engine(settings)  # starts the embedded Postgres when it is the warehouse
    env = {**os.environ, "PAYOPS_HOME": str(settings.home), "PAYOPS_TIMEZONE": settings.timezone}
    command = [str(Path(sys.executable).parent / "jupyter-lab"), f"--notebook-dir={REPORTS_DIR}", f"--port={port}"]
    if no_browser:
        command.append("--no-browser")
    if os.geteuid() == 0:  # containers often run as root, which JupyterLab refuses unless told
        command.append("--allow-root")
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how JupyterLab is stopped
        subprocess.run(command, env=env, check=False)
