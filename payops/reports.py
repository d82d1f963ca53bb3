"""Rendering the report notebooks in reports/: papermill runs one with its parameters, nbconvert turns the
executed notebook into HTML with the code hidden, and the figures it `record`ed land in a JSON sidecar.

    PAYOPS_HOME/reports/<report>/<variant>.ipynb   the executed notebook
    PAYOPS_HOME/reports/<report>/<variant>.html    what readers open: no code, charts embedded as PNG
    PAYOPS_HOME/reports/<report>/<variant>.json    the recorded headline figures (net_amount per currency, ...)

<variant> is the period (2026-06) for every currency in live mode, with `-<currency>` and `-test` appended for
the other choices, so no choice overwrites another. A render that fails leaves the previous three files alone and
its executed notebook, error included, as <variant>.failed.ipynb.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from payops.errors import PayopsError
from payops.notebook import SIDECAR_ENV, Month
from payops.settings import Settings

if TYPE_CHECKING:
    from nbconvert import HTMLExporter
    from nbformat import NotebookNode

REPORTS_DIR = Path(__file__).resolve().parent.parent / "reports"
KERNEL = "python3"
ALL_CURRENCIES = "all"


@dataclass(frozen=True)
class Report:
    name: str
    title: str
    marts: tuple[str, ...]
    """The analytics marts the notebook reads: the Dagster asset is downstream of these."""
    finance_marts: tuple[str, ...] = ()
    """Marts still being built elsewhere that the notebook reads when they exist."""

    @property
    def notebook(self) -> Path:
        return REPORTS_DIR / f"{self.name}.ipynb"


REPORTS = {
    report.name: report
    for report in (
        Report("monthly_payments_review", "Monthly payments review",
               ("payments_daily", "fct_payment_intents", "failure_analysis", "fct_refunds", "dispute_metrics",
                "reconciliation_exceptions", "fraud_signals", "currencies"),
               ("fct_payouts",)),
        Report("dispute_risk_review", "Dispute and risk review",
               ("fct_disputes", "dispute_metrics", "fraud_signals", "currencies")),
        Report("webhook_reliability", "Webhook reliability",
               ("webhook_health", "webhook_events_by_type", "held_back_events")),
    )
}


class ReportFailed(PayopsError, RuntimeError):
    """A report's notebook raised: the message names the report, the cell and the cell's error."""


@dataclass(frozen=True)
class Rendered:
    report: str
    period: str
    html: Path
    notebook: Path
    sidecar: Path
    seconds: float
    steps: dict[str, float]
    """Seconds of each step: papermill (kernel start, every cell, kernel stop), html (nbconvert), write."""

    @property
    def figures(self) -> dict:
        return json.loads(self.sidecar.read_text())


def variant(period: str, currency: str = ALL_CURRENCIES, livemode: bool = True) -> str:
    """The file stem for these parameters: '2026-06', '2026-06-eur', '2026-06-test', '2026-06-eur-test'."""
    return period + ("" if currency == ALL_CURRENCIES else f"-{currency}") + ("" if livemode else "-test")


def output_dir(settings: Settings, report: str) -> Path:
    return settings.home / "reports" / report


def report_named(name: str) -> Report:
    try:
        return REPORTS[name]
    except KeyError:
        raise PayopsError(f"no report named {name!r}; the reports are {', '.join(REPORTS)}.") from None


_environment_lock = threading.Lock()


@contextmanager
def _kernel_environment(settings: Settings, sidecar: Path) -> Iterator[None]:
    """The kernel papermill starts inherits this process's environment: point it at this warehouse and sidecar."""
    wanted = {"PAYOPS_HOME": str(settings.home), "PAYOPS_TIMEZONE": settings.timezone, SIDECAR_ENV: str(sidecar),
              # Jupyter's inline charts, whatever this process chose: importing streamlit (the app, or the Dagster
              # webserver's process) sets MPLBACKEND=Agg, and a kernel inheriting it draws no chart into the report.
              "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    if settings.warehouse_url:
        wanted["WAREHOUSE_URL"] = settings.warehouse_url
    with _environment_lock:
        saved = {name: os.environ.get(name) for name in wanted}
        os.environ.update(wanted)
        try:
            yield
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def render(settings: Settings, report: str, period: str, currency: str = ALL_CURRENCIES, livemode: bool = True,
           progress: bool = False) -> Rendered:
    """Execute one report for one month and write its HTML, executed notebook and sidecar.

    The three files replace the previous ones only once all are written. A failing cell raises ReportFailed with
    that cell's error, keeps the previous files as they were, and leaves the executed notebook, error included,
    as <variant>.failed.ipynb."""
    import papermill

    spec = report_named(report)
    month = Month.parse(period)
    currency = currency.lower()
    out = output_dir(settings, report)
    out.mkdir(parents=True, exist_ok=True)
    stem = variant(month.period, currency, livemode)
    final = {suffix: out / f"{stem}{suffix}" for suffix in (".ipynb", ".html", ".json")}
    running = {suffix: out / f"{stem}.running{suffix}" for suffix in final}
    failed = out / f"{stem}.failed.ipynb"
    for path in running.values():
        path.unlink(missing_ok=True)
    parameters = {"period": month.period, "currency": currency, "timezone": settings.timezone, "livemode": livemode}
    started = time.perf_counter()
    with _kernel_environment(settings, running[".json"]):
        try:
            # Saved once, when done (or failed), not at every cell's start and end: each save validates and writes
            # the whole notebook, charts included. The kernel is stopped at once after the last cell, which has
            # written everything the report keeps, rather than waited for as it tears itself down.
            executed = papermill.execute_notebook(
                str(spec.notebook), str(running[".ipynb"]), parameters=parameters, kernel_name=KERNEL,
                progress_bar=progress, cwd=str(REPORTS_DIR), log_output=False, request_save_on_cell_execute=False,
                shutdown_kernel="immediate")
        except papermill.PapermillExecutionError as exc:
            running[".ipynb"].replace(failed)
            running[".json"].unlink(missing_ok=True)
            raise ReportFailed(f"{report} {stem}: cell {exc.exec_count} failed with {exc.ename}: {exc.evalue}\n"
                               f"The executed notebook, error included: {failed}") from None
    executed_at = time.perf_counter()
    html = to_html(executed)
    converted_at = time.perf_counter()
    running[".html"].write_text(html, encoding="utf-8")
    if not running[".json"].exists():
        running[".json"].write_text("{}")
    for suffix, path in running.items():
        path.replace(final[suffix])
    failed.unlink(missing_ok=True)
    finished = time.perf_counter()
    steps = {"papermill": executed_at - started, "html": converted_at - executed_at, "write": finished - converted_at}
    return Rendered(report, month.period, final[".html"], final[".ipynb"], final[".json"], finished - started, steps)


def to_html(executed: NotebookNode) -> str:
    """The executed notebook as one self-contained HTML page: outputs only, charts inline as base64 PNGs."""
    with _exporter_lock:
        body, _ = _html_exporter().from_notebook_node(executed)
    return body


@cache
def _html_exporter() -> HTMLExporter:
    # One per process: a new exporter loads and compiles its templates again (~1 s, four times its conversion).
    from nbconvert import HTMLExporter

    return HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)


_exporter_lock = threading.Lock()


def rendered_reports(settings: Settings) -> list[dict]:
    """Every rendered report on disk, newest period first: report, title, variant, html, notebook, sidecar."""
    found = []
    for spec in REPORTS.values():
        for html in sorted(output_dir(settings, spec.name).glob("*.html"), reverse=True):
            if html.stem.endswith(".running"):
                continue
            found.append({"report": spec.name, "title": spec.title, "variant": html.stem, "html": html,
                          "notebook": html.with_suffix(".ipynb"), "sidecar": html.with_suffix(".json")})
    return found
