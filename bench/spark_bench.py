"""Time the dbt project's full build on Spark against the same build on Postgres, from the same generated data
(issue 16: a reference for docs/scaling.md, not a target).

Everything happens in a fresh embedded Postgres under its own PAYOPS_HOME (a temporary folder unless --home).

  generate (demo generator: seed 7, --days ending 2026-06-30, --students) -> replay -> copy the app tables -> process
  -> POSTGRES: the refresh's dbt build (no unit tests) --full-refresh, seeds included (timed)
  -> payops export state (timed: the hand-over a move to Spark adds)
  -> SPARK:    the same dbt build, --target spark, on a local SparkSession from the exported Parquet (timed; its
               JVM start is inside the time, as it is in every scheduled build)

    .venv/bin/python bench/spark_bench.py --students 16500      # ~100,000 charges
    .venv/bin/python bench/spark_bench.py --students 165000     # ~1,000,000 charges (long: the load alone is ~30 min)
    .venv/bin/python bench/spark_bench.py --state-from DIR      # Spark only, from an earlier `payops export state`
    .venv/bin/python bench/spark_bench.py --home H --postgres-only  # Postgres only, on a warehouse loaded earlier
    .venv/bin/python bench/spark_bench.py --home H --load-only  # generate and load into H, then (under the bench
    flock /work/coord/bench.lock .venv/bin/python bench/spark_bench.py --home H     # lock) time the two builds only

Needs the [spark] extra and Java 17. Results: docs/benchmarks.md, "dbt on Spark".
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from marts_bench import DBT, DBT_DIR, dbt, load_average, load_initial, say, timed, uptime

REFRESH_BUILD = ("build", "--exclude-resource-type", "unit_test")
LOADED_MARKER = ".spark-bench-loaded"


def spark_build(home: Path, state_dir: Path, cores: int) -> None:
    """The refresh's build on Spark, from `state_dir`; fails loudly with dbt's output."""
    warehouse = home / "spark-warehouse"
    shutil.rmtree(warehouse, ignore_errors=True)  # the in-memory catalog starts empty: so must its folder
    env = {**os.environ, "PAYOPS_SPARK_WAREHOUSE": str(warehouse), "PAYOPS_SPARK_CORES": str(cores)}
    result = subprocess.run(
        [str(DBT), *REFRESH_BUILD, "--target", "spark", "--vars", f"{{state_dir: {state_dir}}}",
         "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR),
         "--target-path", str(home / "spark_target"), "--log-path", str(home / "spark_logs")],
        env=env, capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        say(result.stdout[-6000:])
        raise SystemExit("dbt build on Spark failed")


def count_charges(state_dir: Path) -> int:
    import pyarrow.parquet as pq

    return pq.read_metadata(state_dir / "raw" / "stripe_charges.parquet").num_rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=16_500,
                        help="generated students (default 16500, ~100k charges)")
    parser.add_argument("--days", type=int, default=90, help="days of generated data, ending 2026-06-30 (default 90)")
    parser.add_argument("--cores", type=int, default=os.cpu_count(), help="Spark's local cores (default: all)")
    parser.add_argument("--home", type=Path, help="PAYOPS_HOME to use (kept; reused when already loaded)")
    parser.add_argument("--load-only", action="store_true", help="generate and load into --home, time nothing")
    parser.add_argument("--state-from", type=Path,
                        help="time only the Spark build, from this `payops export state` folder")
    parser.add_argument("--postgres-only", action="store_true",
                        help="time only the Postgres build, on the already loaded warehouse of --home (the Spark "
                             "build's counterpart at a size whose state was exported earlier)")
    args = parser.parse_args()
    if args.postgres_only and not args.home:
        parser.error("--postgres-only times the warehouse of --home: name it")

    say(f"spark bench on {platform.node()}: {os.cpu_count()} cores, Spark local[{args.cores}]; {uptime()}")
    home = args.home or Path(tempfile.mkdtemp(prefix="spark-bench-"))
    if args.state_from:
        spark, _ = timed("Spark dbt build", spark_build, home, args.state_from, args.cores)
        say(f"RESULT charges={count_charges(args.state_from):,} spark_build_s={spark.seconds:.1f} "
            f"load_before={spark.load_before}")
        return 0

    os.environ["PAYOPS_HOME"] = str(home)
    from exports.state import export_state
    from payops.db import dbt_env, embedded_running, ready_engine, stop_embedded
    from payops.settings import Settings

    settings = Settings.from_env()
    if args.postgres_only:
        # A warehouse loaded by other means (the shared 1 M one): timed as it is, and left running if it was.
        already_running = embedded_running(settings)
        ready_engine(settings)
        try:
            postgres, _ = timed("Postgres dbt build --full-refresh", dbt, {**os.environ, **dbt_env(settings)}, home,
                                *REFRESH_BUILD, "--full-refresh")
        finally:
            if not already_running:
                stop_embedded(settings)
        say(f"RESULT postgres_build_s={postgres.seconds:.1f} load_before={postgres.load_before}")
        return 0
    try:
        engine = ready_engine(settings)
        if not (home / LOADED_MARKER).exists():
            load_initial(settings, engine, home, args.students, args.days)
            (home / LOADED_MARKER).touch()
        if args.load_only:
            return 0
        env = {**os.environ, **dbt_env(settings)}
        postgres, _ = timed("Postgres dbt build --full-refresh", dbt, env, home, *REFRESH_BUILD, "--full-refresh")
        state_dir = home / "state"
        export, _ = timed("payops export state", export_state, engine, state_dir)
        spark, _ = timed("Spark dbt build", spark_build, home, state_dir, args.cores)
    finally:
        stop_embedded(settings)
    say(f"RESULT charges={count_charges(state_dir):,} postgres_build_s={postgres.seconds:.1f} "
        f"export_s={export.seconds:.1f} spark_build_s={spark.seconds:.1f} "
        f"spark_vs_postgres={spark.seconds / postgres.seconds:.2f}x load_now={load_average()}")
    if not args.home:
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    started = time.perf_counter()
    status = main()
    say(f"total {time.perf_counter() - started:,.0f} s")
    sys.exit(status)
