"""Benchmark the monthly payments review: its whole render against its SQL queries alone, in the same run.

The reporting issue asks that with 1,000,000 charges in the warehouse the monthly review renders in at most 3x
the time of its SQL queries alone, and that the slowest cell be named. Steps, in a fresh embedded Postgres under
its own PAYOPS_HOME (a temporary folder unless --home; a --home already loaded is reused):

  generate (demo generator: seed 7, --days ending 2026-06-30, --students) -> `payops refresh` (Dagster: replay,
  processing, dbt build)
  -> RENDER (timed, --runs times): payops.reports.render of June 2026: papermill starts a kernel, runs every
     cell, nbconvert writes the HTML. Each render is broken down: the kernel's start, each cell (papermill's
     timestamps in the executed notebook), papermill's own work and the kernel's stop, nbconvert, writing the
     files (render's steps); the floor is what of it any report pays, whatever it reads.
  -> CAPTURE: the notebook's code cells executed once in this process, every SQL statement the read-only engine
     sends recorded (text and parameters).
  -> SQL ALONE (timed, --runs times): those statements replayed in order on one read-only connection, every
     row fetched; nothing else.

    .venv/bin/python bench/reports_bench.py --students 6000 --days 60     # ~24,000 charges, a few minutes
    .venv/bin/python bench/reports_bench.py --students 135000 --days 90   # ~1,000,000 charges, the issue's size
    .venv/bin/python bench/reports_bench.py --url "$(cat /work/big/READY)" # an existing, refreshed warehouse

With --url the warehouse there is only read: no generation, refresh or migration; the rendered files go under a
temporary PAYOPS_HOME (or --home).

Results: docs/benchmarks.md, "Notebook reports".
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

REPORT = "monthly_payments_review"
PERIOD = "2026-06"
END = date(2026, 6, 30)
SEED = 7
LOADED_MARKER = ".reports-bench-loaded"
TARGET_RATIO = 3.0
FLOOR = ("kernel start", "papermill's own work, kernel stop", "nbconvert HTML", "writing the files")
"""The breakdown's phases that do not depend on what the notebook reads (with its setup cell)."""


def say(message: str) -> None:
    print(message, flush=True)


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def load(settings, students: int, days: int) -> None:
    from dagster_project.refresh import refresh
    from demo.generate import generate_demo_data

    started = time.perf_counter()
    generate_demo_data(settings, days=days, students=students, seed=SEED, end=END, progress=False)
    say(f"  generated in {time.perf_counter() - started:,.0f} s")
    started = time.perf_counter()
    result = refresh(settings)
    if not result.success:
        raise SystemExit("the refresh failed")
    say(f"  refreshed (replay, processing, dbt build) in {time.perf_counter() - started:,.0f} s")


def breakdown(rendered) -> dict[str, float]:
    """Where one render's seconds went, from papermill's timestamps in the executed notebook and render's steps:
    the kernel's start, each code cell (by its first line), the gaps between cells, papermill's own work and the
    kernel's stop, nbconvert's HTML and writing the files."""
    import nbformat
    from dateutil.parser import isoparse

    executed = nbformat.read(rendered.notebook, as_version=4)
    started = isoparse(executed.metadata.papermill.start_time)
    cells = [cell for cell in executed.cells if cell.cell_type == "code"]
    first_start = isoparse(cells[0].metadata.papermill.start_time)
    last_end = isoparse(cells[-1].metadata.papermill.end_time)
    durations = {f"cell {number}: {cell.source.splitlines()[0] if cell.source else ''}":
                 cell.metadata.papermill.duration for number, cell in enumerate(cells)}
    # The setup cell (imports, chart style) follows the parameters: what any report pays before reading a row.
    setup = next(number for number, cell in enumerate(cells)
                 if not {"parameters", "injected-parameters"} & set(cell.metadata.get("tags", [])))
    durations = {(f"{label} (setup)" if label.startswith(f"cell {setup}:") else label): seconds
                 for label, seconds in durations.items()}
    return {
        "kernel start": (first_start - started).total_seconds(),
        **durations,
        "between cells": (last_end - first_start).total_seconds() - sum(durations.values()),
        "papermill's own work, kernel stop": rendered.steps["papermill"] - (last_end - started).total_seconds(),
        "nbconvert HTML": rendered.steps["html"],
        "writing the files": rendered.steps["write"],
    }


def captured_statements(notebook: Path) -> list[tuple[str, object]]:
    """Every statement the notebook's cells send through the read-only engine, run here once with the rendered
    parameters (the executed notebook's injected cell), in order."""
    import matplotlib
    import nbformat
    import sqlalchemy as sa

    matplotlib.use("Agg")
    statements: list[tuple[str, object]] = []

    def remember(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters))

    sa.event.listen(sa.Engine, "before_cursor_execute", remember)
    namespace: dict = {}
    try:
        # Outside a kernel, display() prints each object's repr: not wanted in the bench's output.
        with contextlib.redirect_stdout(io.StringIO()):
            for cell in nbformat.read(notebook, as_version=4).cells:
                if cell.cell_type == "code":
                    exec(compile(cell.source, "cell", "exec"), namespace)
    finally:
        sa.event.remove(sa.Engine, "before_cursor_execute", remember)
    return statements


def replay_statements(statements: list[tuple[str, object]]) -> float:
    from payops.notebook import read_only_engine

    engine = read_only_engine()
    started = time.perf_counter()
    with engine.connect() as conn:
        cursor = conn.connection.cursor()
        for statement, parameters in statements:
            cursor.execute(statement, parameters)
            if cursor.description is not None:
                cursor.fetchall()
        cursor.close()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=6_000, help="students in the generated data (default 6000)")
    parser.add_argument("--days", type=int, default=60, help="days of generated data, ending 2026-06-30 (default 60)")
    parser.add_argument("--runs", type=int, default=3, help="renders and SQL replays, the median is kept (default 3)")
    parser.add_argument("--home", type=Path, help="PAYOPS_HOME to use (kept; reused when already loaded)")
    parser.add_argument("--url", help="read this refreshed warehouse (WAREHOUSE_URL) instead of generating one")
    args = parser.parse_args()

    home = args.home or Path(tempfile.mkdtemp(prefix="reports-bench-"))
    home.mkdir(parents=True, exist_ok=True)
    for name in ("WAREHOUSE_URL", "APP_DATABASE_URL", "DAGSTER_HOME", "DAGSTER_PG_URL", "PAYOPS_TIMEZONE"):
        os.environ.pop(name, None)
    os.environ["PAYOPS_HOME"] = str(home)
    if args.url:
        os.environ["WAREHOUSE_URL"] = args.url
    os.environ["MPLBACKEND"] = "Agg"

    import sqlalchemy as sa

    from payops.db import engine as warehouse_engine
    from payops.db import ready_engine, stop_embedded
    from payops.reports import render
    from payops.settings import Settings

    settings = Settings.from_env()
    say(f"PAYOPS_HOME {home}; {os.cpu_count()} cores; load {load_average()}")
    try:
        engine = warehouse_engine(settings) if args.url else ready_engine(settings)
        if not args.url and not (home / LOADED_MARKER).exists():
            say(f"Loading {args.students:,} students x {args.days} days of generated data:")
            load(settings, args.students, args.days)
            (home / LOADED_MARKER).write_text("loaded\n")
        with engine.connect() as conn:
            charges, in_june = conn.execute(sa.text(
                "select count(*), count(*) filter (where created_day >= '2026-06-01') from analytics.fct_charges"
            )).one()
        say(f"analytics.fct_charges: {charges:,} charges, {in_june:,} created in June 2026")

        renders, breakdowns = [], []
        for run in range(args.runs):
            rendered = render(settings, REPORT, PERIOD)
            renders.append(rendered.seconds)
            breakdowns.append(breakdown(rendered))
            say(f"  render {run + 1}: {rendered.seconds:,.2f} s (load {load_average()})")
        statements = captured_statements(rendered.notebook)
        replays = []
        for run in range(args.runs):
            replays.append(replay_statements(statements))
            say(f"  SQL alone {run + 1}: {replays[-1]:,.2f} s, {len(statements)} statements")
    finally:
        if not args.url:
            stop_embedded(settings)
        if not args.home:
            shutil.rmtree(home, ignore_errors=True)

    render_s, sql_s = statistics.median(renders), statistics.median(replays)
    ratio = render_s / sql_s
    verdict = "PASS" if ratio <= TARGET_RATIO else "FAIL"
    say(f"\n| charges | June charges | render (median of {args.runs}) | SQL alone | ratio "
        f"| target <= {TARGET_RATIO:.0f}x |")
    say("|---:|---:|---:|---:|---:|---|")
    say(f"| {charges:,} | {in_june:,} | {render_s:,.2f} s | {sql_s:,.2f} s | {ratio:.1f}x | **{verdict}** |")
    phases = {phase: statistics.median(run[phase] for run in breakdowns) for phase in breakdowns[0]}
    say(f"\nWhere a render's seconds go (median of {args.runs} per phase; the median render {render_s:,.2f} s):")
    for phase, seconds in phases.items():
        say(f"  {seconds:6.2f} s  {phase}")
    floor = sum(seconds for phase, seconds in phases.items() if phase in FLOOR or phase.endswith("(setup)"))
    say(f"The floor, what a render costs before and after its queries and charts (kernel start, the setup cell's "
        f"imports, papermill and the kernel's stop, nbconvert, writing): {floor:,.2f} s, alone {floor / sql_s:.1f}x "
        f"the SQL; a render within {TARGET_RATIO:.0f}x needs SQL of at least {floor / TARGET_RATIO:,.2f} s.")
    cells = {phase: seconds for phase, seconds in phases.items() if phase.startswith("cell ")}
    slowest = max(cells, key=cells.get)
    say(f"Slowest cell: {slowest} ({cells[slowest]:,.2f} s)")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
