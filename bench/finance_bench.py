"""Benchmark the dbt build with Stripe's balance in the warehouse: incremental after new events vs full.

The finance issue asks that, with 1,000,000 charges and their balance transactions in the warehouse, an
incremental refresh after 10,000 new events stays within 10 % of a full build. This runs bench/marts_bench.py's
phases (generate, replay, process, arrival times moved to `created`) plus the balance: the generator's balance
listing is stored as `payops ingest stripe-balance` would store it, for the initial data and for the new batch.

    .venv/bin/python bench/finance_bench.py --students 5000 --days 30 --new-events 2000   # ~4 min, 2 cores
    .venv/bin/python bench/finance_bench.py --students 135000 --days 90                   # the issue's size
                                                                                           # (not run yet)

Exit status 1 when the ratio misses the target. Results: docs/benchmarks.md, "Finance: balance transactions".
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import marts_bench as marts  # noqa: E402  (REPO must be on sys.path first)

NEW_BATCH_SEED = 3007


def load_balance(settings, engine) -> None:
    from ingest.stripe_balance import load_balance_landing

    result = load_balance_landing(engine, settings.stripe_balance_landing_dir)
    marts.say(f"  balance: {result.summary()}")


def balance_as_if_listed_when_created(engine) -> None:
    """As marts_bench moves event arrivals to `created`: a listing in service stored each transaction soon after
    it was created, so only the new batch's transactions are new to the incremental build."""
    import sqlalchemy as sa

    with engine.begin() as conn:
        conn.execute(sa.text("""
            update raw.stripe_api_balance_transactions
            set updated_at = created_at + (select now() - interval '1 hour' - max(created_at) from raw.stripe_events)
        """))


def main() -> int:
    from dagster_project.environment import DBT_REFRESH_ARGS

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=5_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--new-events", type=int, default=2_000)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="finance-bench-"))
    for name in ("WAREHOUSE_URL", "APP_DATABASE_URL", "DAGSTER_HOME", "DAGSTER_PG_URL", "PAYOPS_TIMEZONE"):
        os.environ.pop(name, None)
    os.environ["PAYOPS_HOME"] = str(home)

    import sqlalchemy as sa

    from payops.db import dbt_env, ready_engine, stop_embedded
    from payops.settings import Settings

    settings = Settings.from_env()
    marts.say(f"PAYOPS_HOME {home}; {os.cpu_count()} cores; {args.students:,} students x {args.days} days")
    try:
        engine = ready_engine(settings)
        env = {**os.environ, **dbt_env(settings)}
        marts.load_initial(settings, engine, home, args.students, args.days)
        load_balance(settings, engine)
        marts.timed("arrival times moved to created", marts.as_if_received_when_created, engine)
        balance_as_if_listed_when_created(engine)
        with engine.connect() as conn:
            sizes = {table: conn.execute(sa.text(f"select count(*) from raw.{table}")).scalar() for table in
                     ("stripe_events", "stripe_charges", "stripe_api_balance_transactions", "stripe_payouts")}
        marts.say(f"  sizes: {sizes}")

        marts.dbt(env, home, "seed", "--full-refresh")
        full, _ = marts.timed("full build (the refresh's dbt build --full-refresh)", marts.dbt, env, home,
                              *DBT_REFRESH_ARGS, "--full-refresh")
        marts.vacuum_analyze(engine)
        marts.add_new_events(settings, engine, home, args.new_events, NEW_BATCH_SEED, marts.END)
        load_balance(settings, engine)
        incremental, _ = marts.timed("incremental build (the refresh's dbt build)", marts.dbt, env, home,
                                     *DBT_REFRESH_ARGS)
        engine.dispose()
    finally:
        stop_embedded(settings)
        shutil.rmtree(home, ignore_errors=True)

    ratio = incremental.seconds / full.seconds
    verdict = "PASS" if ratio <= marts.TARGET_RATIO else "FAIL"
    marts.say(f"\n| sizes | {sizes} |\n|---|---|")
    marts.say(f"| full build | {full.seconds:,.1f} s (load {full.load_before}) |")
    marts.say(f"| incremental build after {args.new_events:,} new events | {incremental.seconds:,.1f} s "
              f"(load {incremental.load_before}) |")
    marts.say(f"| incremental / full | {ratio:.1%} (target <= {marts.TARGET_RATIO:.0%}): **{verdict}** |")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
