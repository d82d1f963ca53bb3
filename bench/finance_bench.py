"""Benchmark the refresh's dbt build with Stripe's balance in the warehouse: incremental after new events vs full.

The finance issue asks that, with 1,000,000 charges and their balance transactions in the warehouse, an incremental
refresh after 10,000 new events stays within 10 % of a full build. This runs bench/marts_bench.py's phases (generate,
replay, process, store the balance listing, arrival times moved to `created`), times the refresh's `dbt build
--full-refresh`, adds 10,000 new events with the balance transactions and payout itemizations listed by then, and
times the refresh's incremental `dbt build`. It then lists each model's seconds in both builds: what each
incremental model saves over being rebuilt whole (docs/decisions.md §17).

    .venv/bin/python bench/finance_bench.py --students 5000 --days 30 --new-events 2000   # smoke run, ~4 min
    .venv/bin/python bench/finance_bench.py --home /work/big-incr     # a PAYOPS_HOME `payops refresh` loaded (the
                                                                      # 1M-charge warehouse): no generate or load
    .venv/bin/python bench/finance_bench.py --students 165000         # the issue's size from scratch (~1M charges)

Exit status 1 when the ratio misses the target. Results: docs/benchmarks.md, "Finance: balance transactions".
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import marts_bench as marts  # noqa: E402  (REPO must be on sys.path first)


def model_seconds(home: Path) -> dict[str, float]:
    """Each model's seconds in the last dbt invocation (run_results.json)."""
    results = json.loads((home / "dbt_target" / "run_results.json").read_text())["results"]
    return {r["unique_id"].split(".")[2]: r["execution_time"] for r in results if r["unique_id"].startswith("model.")}


def main() -> int:
    from dagster_project.project import DBT_REFRESH_ARGS

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=165_000,
                        help="students in the generated data (default 165000, ~1M charges)")
    parser.add_argument("--days", type=int, default=90, help="days of generated data, ending 2026-06-30 (default 90)")
    parser.add_argument("--new-events", type=int, default=10_000, help="events in the incremental batch")
    parser.add_argument("--home", type=Path,
                        help="PAYOPS_HOME to use (kept; its warehouse is reused when it already holds events)")
    args = parser.parse_args()

    home = args.home or Path(tempfile.mkdtemp(prefix="finance-bench-"))
    for name in ("WAREHOUSE_URL", "APP_DATABASE_URL", "DAGSTER_HOME", "DAGSTER_PG_URL", "PAYOPS_TIMEZONE"):
        os.environ.pop(name, None)
    os.environ["PAYOPS_HOME"] = str(home)

    import sqlalchemy as sa

    from payops.db import dbt_env, embedded_running, ready_engine, stop_embedded
    from payops.settings import Settings

    settings = Settings.from_env()
    # A shared warehouse others read (--home of a running server) is left running.
    already_running = embedded_running(settings)
    marts.say(f"PAYOPS_HOME {home}; {os.cpu_count()} cores; uptime: {marts.uptime()}")
    try:
        engine = ready_engine(settings)
        env = {**os.environ, **dbt_env(settings)}
        if not marts.is_loaded(engine):
            marts.say(f"Loading {args.students:,} students x {args.days} days of generated data:")
            marts.load_initial(settings, engine, home, args.students, args.days)
        else:
            marts.say("Reusing the loaded warehouse.")
        marts.timed("arrival times moved to created", marts.as_if_received_when_created, engine,
                    marts.last_run_started(home))
        with engine.connect() as conn:
            sizes = {table: conn.execute(sa.text(f"select count(*) from raw.{table}")).scalar() for table in
                     ("stripe_events", "stripe_charges", "stripe_api_balance_transactions", "stripe_payouts")}
        marts.say(f"  sizes: {sizes}")

        marts.dbt(env, home, "seed", "--full-refresh")
        full, _ = marts.timed("full build (the refresh's dbt build --full-refresh)", marts.dbt, env, home,
                              *DBT_REFRESH_ARGS, "--full-refresh")
        full_models = model_seconds(home)
        marts.timed("vacuum analyze, as autovacuum will after a full build", marts.vacuum_analyze, engine)
        seed, *_ = marts.new_batch_seeds(home)
        marts.add_new_events(settings, engine, home, args.new_events, seed, marts.END)
        incremental, _ = marts.timed("incremental build (the refresh's dbt build)", marts.dbt, env, home,
                                     *DBT_REFRESH_ARGS)
        incremental_models = model_seconds(home)
        engine.dispose()
    finally:
        if not already_running:
            stop_embedded(settings)
        if not args.home:
            shutil.rmtree(home, ignore_errors=True)

    ratio = incremental.seconds / full.seconds
    verdict = "PASS" if ratio <= marts.TARGET_RATIO else "FAIL"
    marts.say(f"\n| sizes | {sizes} |\n|---|---|")
    marts.say(f"| full build | {full.seconds:,.1f} s (load {full.load_before}) |")
    marts.say(f"| incremental build after {args.new_events:,} new events | {incremental.seconds:,.1f} s "
              f"(load {incremental.load_before}) |")
    marts.say(f"| incremental / full | {ratio:.1%} (target <= {marts.TARGET_RATIO:.0%}): **{verdict}** |")
    marts.say("\n| model | full build s | incremental build s | saved s |\n|---|---:|---:|---:|")
    for model in sorted(full_models, key=lambda m: incremental_models.get(m, 0) - full_models[m]):
        saved = full_models[model] - incremental_models.get(model, 0)
        marts.say(f"| {model} | {full_models[model]:.2f} | {incremental_models.get(model, 0):.2f} | {saved:.2f} |")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
