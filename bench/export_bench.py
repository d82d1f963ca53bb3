"""Benchmark the compliance export against the physical limit of reading its rows: a plain `COPY (…) TO STDOUT`
of the same queries, for the same month, measured in the same run; and its peak memory for one month and for
three months (the export streams, so the two should differ by less than 20 %).

The compliance-export issue asks, over 1,000,000 charges (--students 135000 --days 90):
  1. a one-month export takes at most 2x the time of the COPY of the same rows;
  2. peak memory for one month and for three months differs by less than 20 %.

    .venv/bin/python bench/export_bench.py                        # 20,000 students, 90 days
    .venv/bin/python bench/export_bench.py --students 135000      # the issue's size
    .venv/bin/python bench/export_bench.py --home /tmp/eb         # keep the warehouse; a rerun reuses it
    .venv/bin/python bench/export_bench.py --url "$(cat /work/big/READY)"   # an existing, refreshed warehouse

A fresh embedded Postgres under its own PAYOPS_HOME: generate (seed 7, ending 2026-06-30) -> `payops refresh`
-> then --runs alternating rounds of COPY and export (median of each), then one export per period in a fresh
process each for peak RSS. With --url the warehouse there is only read (no generation, refresh or migration; the
files go under a temporary PAYOPS_HOME). Exit status 1 when a target fails. Results: docs/benchmarks.md,
"Compliance export".
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

END = date(2026, 6, 30)
MONTH = (date(2026, 6, 1), END)
QUARTER = (date(2026, 4, 1), END)
KEY = "bench-export-key"
PEAK_RSS = """
import json, resource, sys
from datetime import date
from pathlib import Path
from exports.compliance import ExportRequest, run_export
from payops.db import engine
from payops.settings import Settings
settings = Settings.from_env()
start, end, out = date.fromisoformat(sys.argv[1]), date.fromisoformat(sys.argv[2]), Path(sys.argv[3])
result = run_export(engine(settings), ExportRequest(start, end, out, requested_by="bench"),
                    timezone=settings.timezone, key=settings.export_key)
rows = sum(f["rows"] for name, f in result.files.items() if name.endswith(".csv"))
print(json.dumps({"rows": rows, "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message} (load {os.getloadavg()[0]:.2f})", flush=True)


def build_warehouse(settings, students: int, days: int) -> None:
    from dagster_project.refresh import refresh
    from demo.generate import generate_demo_data

    marker = settings.home / ".export-bench-built"
    if marker.exists():
        say(f"reusing the warehouse under {settings.home}")
        return
    say(f"generating {students} students over {days} days")
    generate_demo_data(settings, days=days, students=students, seed=7, end=END, progress=False)
    say("refreshing (replay, processing, dbt build)")
    run = refresh(settings)
    if not run.success:
        raise SystemExit("the refresh failed; see its output above")
    marker.write_text(f"students={students} days={days}\n")


def literal_query(query: str, start: date, end: date, timezone: str) -> str:
    """The dataset's query with its parameters written in, as COPY takes no bind parameters."""
    return (query.replace(":start_day", f"date '{start}'").replace(":end_day", f"date '{end}'")
            .replace(":tz", f"'{timezone}'"))


def time_copy(engine, timezone: str, out: Path) -> float:
    from exports.compliance import copy_blocks
    from exports.datasets import DATASETS

    started = time.perf_counter()
    with engine.raw_connection().driver_connection as conn, conn.cursor() as cursor:
        for dataset in DATASETS:
            sql = literal_query(dataset.query, *MONTH, timezone)
            with (out / f"{dataset.name}.copy.csv").open("wb") as file, \
                    cursor.copy(f"copy ({sql}) to stdout (format csv, header)") as copy:
                # In blocks, as the export writes them: a write per row would slow the baseline, not the COPY.
                for block in copy_blocks(copy):
                    file.write(block)
    return time.perf_counter() - started


def time_export(engine, timezone: str, out: Path) -> tuple[float, int]:
    from exports.compliance import ExportRequest, run_export

    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    result = run_export(engine, ExportRequest(*MONTH, out, requested_by="bench"), timezone=timezone, key=KEY)
    elapsed = time.perf_counter() - started
    return elapsed, sum(f["rows"] for name, f in result.files.items() if name.endswith(".csv"))


def peak_rss(period: tuple[date, date], out: Path) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    done = subprocess.run([sys.executable, "-c", PEAK_RSS, str(period[0]), str(period[1]), str(out)], check=True,
                          capture_output=True, text=True, cwd=REPO, env={**os.environ, "PAYOPS_EXPORT_KEY": KEY})
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--runs", type=int, default=3, help="alternating COPY/export rounds (median of each)")
    parser.add_argument("--home", type=Path, help="keep the warehouse here (reused by a rerun)")
    parser.add_argument("--url", help="read this refreshed warehouse (WAREHOUSE_URL) instead of generating one")
    args = parser.parse_args()

    home = args.home or Path(tempfile.mkdtemp(prefix="export-bench-"))
    os.environ["PAYOPS_HOME"] = str(home)
    if args.url:
        os.environ["WAREHOUSE_URL"] = args.url
    from exports.datasets import DATASETS
    from payops.db import engine as warehouse_engine
    from payops.db import ready_engine, stop_embedded
    from payops.settings import Settings

    settings = Settings.from_env()
    say(f"warehouse: {'--url' if args.url else home}")
    try:
        if args.url:
            engine = warehouse_engine(settings)
        else:
            build_warehouse(settings, args.students, args.days)
            engine = ready_engine(settings)
        with engine.connect() as conn:
            charges = conn.exec_driver_sql("select count(*) from analytics.fct_charges").scalar()
        work = home / "bench-out"
        work.mkdir(exist_ok=True)
        copies, exports, rows = [], [], 0
        for round_ in range(1, args.runs + 1):
            copies.append(time_copy(engine, settings.timezone, work))
            elapsed, rows = time_export(engine, settings.timezone, work / "export")
            exports.append(elapsed)
            say(f"round {round_}: COPY {copies[-1]:.2f} s, export {elapsed:.2f} s ({rows} rows)")
        ratio = statistics.median(exports) / statistics.median(copies)
        say("peak RSS: one export per period, each in a fresh process")
        month, quarter = peak_rss(MONTH, work / "month"), peak_rss(QUARTER, work / "quarter")
        growth = quarter["peak_rss_kb"] / month["peak_rss_kb"] - 1
        print(f"\nmachine: {platform.platform()}, {os.cpu_count()} cores")
        print(f"warehouse: {charges:,} charges; one month ({MONTH[0]}..{MONTH[1]}): {rows:,} rows in {len(DATASETS)} "
              "datasets")
        print(f"COPY median {statistics.median(copies):.2f} s; export median {statistics.median(exports):.2f} s "
              f"(CSV + Parquet + checks + manifest); ratio {ratio:.2f} (target <= 2.0): "
              f"{'PASS' if ratio <= 2 else 'FAIL'}")
        print(f"peak RSS: one month {month['peak_rss_kb'] / 1024:.0f} MiB ({month['rows']:,} rows), three months "
              f"{quarter['peak_rss_kb'] / 1024:.0f} MiB ({quarter['rows']:,} rows): {growth:+.1%} "
              f"(target < 20 %): {'PASS' if abs(growth) < 0.2 else 'FAIL'}")
        return 0 if ratio <= 2 and abs(growth) < 0.2 else 1
    finally:
        if not args.home:
            if not args.url:
                stop_embedded(settings)
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
