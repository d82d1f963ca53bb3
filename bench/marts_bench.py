"""Benchmark the dbt project (the metrics marts) on generated Stripe events, and the queries read from them.

The metrics-warehouse issue asks that, with 1,000,000 charge events in the warehouse (--students 135000),
  1. an incremental `dbt build` after 10,000 new events takes at most 10 % of a full build;
  2. every query the Streamlit app runs, and a representative query per mart, answers with p95 <= 300 ms.

Everything happens in a fresh embedded Postgres under its own PAYOPS_HOME (a temporary folder unless --home),
so the numbers neither depend on nor disturb anybody's warehouse. Steps:

  generate (demo generator: seed 7, --days ending 2026-06-30, --students, app tables too) -> replay the events
  -> copy the app tables -> process the events into the state tables -> store the generator's balance listing
  -> move arrival times to event `created` (see as_if_received_when_created; on every run) -> dbt seed
  -> FULL:        the refresh's dbt build (DBT_REFRESH_ARGS: no unit tests) --full-refresh (timed),
                   then dbt run --full-refresh (timed) -> vacuum analyze (see vacuum_analyze)
  -> 10,000 new events (a second generator run: another seed, the days after) -> replay -> process -> their
     balance transactions and payout itemizations
  -> INCREMENTAL: the refresh's dbt build (timed)
  -> 10,000 more new events -> replay -> process -> INCREMENTAL: dbt run (timed). The build's batch arrived
     seconds before, inside the lookback, and the models past staging (whose copies keep its arrival times)
     read it again: this run reads twice the events an hourly refresh would.
  -> every query --runs times: p50 / p95 / max.

    .venv/bin/python bench/marts_bench.py                          # ~1M events (375,000 charge events), ~12 min
    .venv/bin/python bench/marts_bench.py --students 135000        # 1M charge events, the size the issue names
                                                                  # (2.8M events), ~35 min
    .venv/bin/python bench/marts_bench.py --students 2000 --days 30 --new-events 1000   # smoke run, ~2 min
    .venv/bin/python bench/marts_bench.py --home /tmp/mb           # keep the loaded warehouse; a rerun with the
                                                                  # same --home reuses it (no generate/load), each
                                                                  # run adding its 2 x 10,000 new events; so does a
                                                                  # PAYOPS_HOME `payops refresh` loaded

Exit status 1 when a target fails. Results and their history: docs/benchmarks.md, "Metrics marts".
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

DBT_DIR = REPO / "dbt"
DBT = Path(sys.executable).with_name("dbt")
SEED = 7
END = date(2026, 6, 30)
NEW_BATCH_SEEDS = (1007, 2007)
"""Generator seeds of a run's two batches of new events; a rerun on the same --home adds RERUN_SEED_STEP per
earlier run, so its events are new too."""
RERUN_SEED_STEP = 10_000
RUNS_LOG = ".marts-bench-runs"
RUNS_LOG_TIME = "%Y-%m-%d %H:%M:%S"
NEW_BATCH_DAYS = 5
TARGET_RATIO = 0.10
TARGET_P95_MS = 300.0


# ------------------------------------------------------------------------------------------------ helpers
def say(message: str) -> None:
    print(message, flush=True)


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return f"load average: {load_average()}"


@dataclass
class Timed:
    label: str
    seconds: float
    load_before: str


def timed(label: str, fn, *args, **kwargs) -> tuple[Timed, object]:
    load = load_average()
    say(f"  {label} (load {load}) ...")
    started = time.perf_counter()
    value = fn(*args, **kwargs)
    seconds = time.perf_counter() - started
    say(f"  {label}: {seconds:,.1f} s")
    return Timed(label, seconds, load), value


def dbt(env: dict[str, str], home: Path, *args: str) -> None:
    result = subprocess.run(
        [str(DBT), *args, "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR),
         "--target-path", str(home / "dbt_target"), "--log-path", str(home / "dbt_logs")],
        env=env, capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        say(result.stdout[-6000:])
        say(result.stderr[-2000:])
        raise SystemExit(f"dbt {' '.join(args)} failed")
    if args[0] in ("build", "run"):
        say(slowest_nodes(home))


def slowest_nodes(home: Path, count: int = 8) -> str:
    """The dbt nodes that took longest in the last invocation (run_results.json), for the log."""
    import json

    results = json.loads((home / "dbt_target" / "run_results.json").read_text())["results"]
    models = sum(r["execution_time"] for r in results if r["unique_id"].startswith("model."))
    tests = sum(r["execution_time"] for r in results if not r["unique_id"].startswith("model."))
    slowest = sorted(results, key=lambda r: -r["execution_time"])[:count]
    return (f"    {len(results)} nodes; models {models:,.1f} s, tests {tests:,.1f} s (summed over dbt's threads); "
            "slowest: "
            + ", ".join(f"{r['unique_id'].split('.')[2]} {r['execution_time']:.1f}" for r in slowest))


def event_lines(folder: Path) -> list[bytes]:
    return [line for path in sorted(folder.rglob("*.jsonl")) for line in path.read_bytes().splitlines() if line]


# ------------------------------------------------------------------------------------------------- phases
def load_initial(settings, engine, home: Path, students: int, days: int) -> dict[str, int]:
    from demo.generate import generate_demo_data
    from ingest.app_tables import copy_app_tables
    from ingest.processing import process_pending
    from ingest.stripe_balance import load_balance_landing
    from ingest.stripe_events import replay
    from payops.db import app_engine

    out_dir = home / "events" / "initial"
    timed("generate", generate_demo_data, settings, days=days, students=students, seed=SEED, end=END,
          progress=False, out_dir=out_dir)
    _, loaded = timed("replay", replay, engine, [out_dir])
    timed("copy app tables", copy_app_tables, app_engine(settings), engine)
    _, processed = timed("process", process_pending, engine)
    say(f"  {loaded.summary()}; processing: {processed.summary()}")
    shutil.rmtree(home / "events")  # 2 GB per million events; the warehouse has them now
    _, balance = timed("store the balance listing", load_balance_landing, engine, settings.stripe_balance_landing_dir)
    say(f"  balance: {balance.summary()}")
    return {"loaded": loaded.loaded}


def is_loaded(engine) -> bool:
    """Whether the warehouse already holds events: loaded by an earlier run on the same --home, or by `payops
    refresh` (the integrator's copies of the million-charge warehouse)."""
    import sqlalchemy as sa

    with engine.connect() as conn:
        return conn.execute(sa.text("select exists (select from raw.stripe_events)")).scalar()


def as_if_received_when_created(engine, arrived_since: datetime | None = None) -> None:
    """A replay stores a million events within minutes, so every one would sit inside the incremental models'
    lookback and each "incremental" build would re-read them all. A warehouse in service received them as
    they happened: move each event's arrival to its `created` (the newest an hour ago), each state's update and
    each webhook-log entry with it, each platform row's copy to its `updated_at`, and each balance transaction's
    listing to its `created`. Only arrival times change; no figure depends on them.

    `arrived_since`: move only what arrived since then (an earlier run's new batches, which arrived within a minute;
    what that run moved already lies hours back, out of every lookback). Moving the million rows again took 713 s
    at 1 M charges."""
    import sqlalchemy as sa

    from ingest.processing import STATE_TABLES

    offset = "(select now() - interval '1 hour' - max(created_at) from raw.stripe_events)"
    since = {"since": arrived_since or datetime.min.replace(tzinfo=UTC)}
    with engine.begin() as conn:
        conn.execute(sa.text(f"create temporary table shift on commit drop as select {offset} as offset"))
        for table in STATE_TABLES:
            conn.execute(sa.text(f"update raw.{table.table} set updated_at = last_event_created_at + shift.offset"
                                 " from shift where updated_at >= :since"), since)
        conn.execute(sa.text("update raw.stripe_events set received_at = created_at + shift.offset from shift"
                             " where received_at >= :since"), since)
        conn.execute(sa.text("update raw.app_rows set loaded_at = updated_at + shift.offset from shift"
                             " where loaded_at >= :since"), since)
        # A balance listing stored each transaction soon after it was created, and a payout's itemization when the
        # payout ended (its last state).
        conn.execute(sa.text("update raw.stripe_api_balance_transactions set updated_at = created_at + shift.offset"
                             " from shift where updated_at >= :since"), since)
        conn.execute(sa.text("""
            update raw.stripe_payout_balance_transactions as carried set loaded_at = payouts.updated_at
            from raw.stripe_payouts as payouts
            where payouts.id = carried.payout_id and carried.loaded_at >= :since
        """), since)
        # The log's trigger would stamp updated_at with the clock, and every row would look just written to the
        # incremental webhook models: this rewrites history, so the last write moves with the rest.
        conn.execute(sa.text("alter table ops.webhook_event_log disable trigger webhook_event_log_updated_at"))
        conn.execute(sa.text("""
            update ops.webhook_event_log as log
            set received_at = events.received_at,
                processing_started_at = events.received_at,
                processed_at = events.received_at + make_interval(secs => coalesce(log.processing_ms, 0) / 1000),
                updated_at = events.received_at + make_interval(secs => coalesce(log.processing_ms, 0) / 1000)
            from raw.stripe_events as events
            where events.event_id = log.event_id and log.received_at >= :since
        """), since)
        conn.execute(sa.text("alter table ops.webhook_event_log enable trigger webhook_event_log_updated_at"))
    vacuum_analyze(engine)


def vacuum_analyze(engine) -> None:
    """What autovacuum does some minutes after a full build or a mass update; the benchmark does it at once, so
    that autovacuum does not do it in the middle of a timed incremental build (it was, on the million-row tables
    the full builds had just created, in one run: 18.3 s instead of ~13)."""
    import sqlalchemy as sa

    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("vacuum analyze"))


def add_new_events(settings, engine, home: Path, count: int, seed: int, after: date) -> int:
    """`count` events of objects the warehouse has never seen, created in the days after `after`, arriving now,
    with the balance transactions and payout itemizations Stripe's API would list by then."""
    import orjson

    from demo.generate import generate_demo_data
    from ingest.processing import process_pending
    from ingest.stripe_events import load_events

    out_dir = home / "events" / f"new-{seed}"
    # ~0.23 events per student and day: 5 days by 1.2 students per wanted event give ~1.4x `count`, trimmed.
    generate_demo_data(settings, days=NEW_BATCH_DAYS, students=max(50, int(count * 1.2)), seed=seed,
                       end=after + timedelta(days=NEW_BATCH_DAYS),
                       progress=False, out_dir=out_dir / "events", write_app=False, balance_dir=out_dir / "balance")
    lines = sorted(event_lines(out_dir / "events"), key=lambda line: orjson.loads(line)["created"])[:count]
    result = load_events(engine, ((f"new-{seed}:{n}", line) for n, line in enumerate(lines)), source="replay")
    processed = process_pending(engine)
    balance = load_listed_by(engine, out_dir / "balance", [orjson.loads(line) for line in lines])
    shutil.rmtree(out_dir)
    say(f"  {count:,} new events: {result.summary()}; processing: {processed.summary()}; balance: {balance.summary()}")
    return result.loaded


def load_listed_by(engine, folder: Path, events: list[dict]):
    """Store what the balance listing in `folder` held when the newest of `events` happened: the transactions
    created by then, and the itemizations of the payouts those events ended."""
    import orjson

    from ingest.stripe_balance import ITEMIZATION_FILE, TRANSACTIONS_FILE, load_balance_landing

    newest = max(event["created"] for event in events)
    ended = {event["data"]["object"]["id"] for event in events if event["type"] in ("payout.paid", "payout.failed")}
    listed = [line for line in (folder / TRANSACTIONS_FILE).read_bytes().splitlines()
              if line and orjson.loads(line)["created"] <= newest]
    itemized = [line for line in (folder / ITEMIZATION_FILE).read_bytes().splitlines()
                if line and orjson.loads(line)["payout"] in ended]
    kept = folder / "listed-by-then"
    kept.mkdir()
    (kept / TRANSACTIONS_FILE).write_bytes(b"\n".join(listed) + b"\n")
    (kept / ITEMIZATION_FILE).write_bytes(b"\n".join(itemized) + b"\n")
    return load_balance_landing(engine, kept)


def last_run_started(home: Path) -> datetime | None:
    """When the last earlier run on `home` began adding its new events (RUNS_LOG, local time), or None."""
    runs_log = home / RUNS_LOG
    runs = runs_log.read_text().splitlines() if runs_log.exists() else []
    return datetime.strptime(runs[-1], RUNS_LOG_TIME).astimezone() if runs else None


def new_batch_seeds(home: Path) -> tuple[int, ...]:
    """This run's NEW_BATCH_SEEDS, moved past those of the earlier runs on `home` (logged in RUNS_LOG)."""
    runs_log = home / RUNS_LOG
    earlier_runs = len(runs_log.read_text().splitlines()) if runs_log.exists() else 0
    with runs_log.open("a") as log:
        log.write(f"{time.strftime(RUNS_LOG_TIME)}\n")
    return tuple(seed + RERUN_SEED_STEP * earlier_runs for seed in NEW_BATCH_SEEDS)


def table_sizes(engine) -> dict[str, int]:
    import sqlalchemy as sa

    tables = ["raw.stripe_events", "raw.stripe_charges", "raw.stripe_payment_intents", "raw.stripe_refunds",
              "raw.stripe_disputes", "raw.stripe_balance_transactions", "analytics.stg_stripe__events",
              "analytics.base_stripe__charge_events", "analytics.fct_charges", "analytics.fct_refunds",
              "analytics.fct_disputes", "analytics.payments_daily", "analytics.stg_ops__webhook_event_log"]
    with engine.connect() as conn:
        return {t: conn.execute(sa.text(f"select count(*) from {t}")).scalar() for t in tables}


# ------------------------------------------------------------------------------------------------ queries
def app_reads(settings, first_day: date, last_day: date, month_ago: date) -> list[tuple[str, object]]:
    """(label, call): every reader the Streamlit pages use, called as the pages call them (SQL and pandas),
    without Streamlit's cache, so the bench times exactly what a dashboard runs."""
    import streamlit.logger

    sys.path.insert(0, str(REPO / "streamlit_app"))
    import data  # the app's one data module; its folder is not a package, as under `streamlit run`

    # Outside `streamlit run` each cached reader warns, once per call, that there is no runtime.
    streamlit.logger.set_log_level("error")

    with data.db.engine(settings).connect() as conn:
        import sqlalchemy as sa

        currency = conn.execute(sa.text(
            "select currency from analytics.payments_daily where livemode group by currency"
            " order by sum(charges_failed) desc limit 1")).scalar()
    kinds = ("missing_in_stripe", "missing_in_app", "status_mismatch", "amount_mismatch", "currency_mismatch")
    calls = {
        "payment_day_bounds": (True,),
        "currency_exponents": (),
        "payment_totals, all days": (True, first_day, last_day),
        "payment_totals, 30 days": (True, month_ago, last_day),
        "payments_by_day, all days": (True, first_day, last_day),
        "payments_by_day, 30 days": (True, month_ago, last_day),
        "failure_currencies, 30 days": (True, month_ago, last_day),
        "failure_breakdown, 30 days": (True, currency, month_ago, last_day),
        "failure_spikes, 30 days": (True, currency, month_ago, last_day),
        "dispute_months": (True,),
        "open_disputes": (True,),
        "webhook_hours, 24 h": (24,),
        "webhook_totals, 24 h": (24,),
        "failed_webhook_events": (),
        "reconciliation_counts": (True,),
        "reconciliation_exceptions": (True, kinds),
    }
    reads = []
    for label, args in calls.items():
        reader = getattr(data, label.split(",")[0]).__wrapped__
        reads.append((f"app: {label}", lambda reader=reader, args=args: reader(settings, *args)))
    return reads


def mart_queries(engine) -> list[tuple[str, str, dict]]:
    """(label, sql, params): one representative query per mart the pages do not read yet."""
    import sqlalchemy as sa

    with engine.connect() as conn:
        last_day = conn.execute(sa.text("select max(day) from analytics.payments_daily where livemode")).scalar()
        busiest_day = conn.execute(sa.text(
            "select day from analytics.failure_analysis group by day order by count(*) desc limit 1")).scalar()
        student_id = conn.execute(sa.text(
            "select student_id from analytics.student_payment_summary order by purchases desc limit 1")).scalar()
        last_month = conn.execute(sa.text("select max(month) from analytics.dispute_metrics")).scalar()
    month_ago = last_day - timedelta(days=29)
    year_ago = last_month - timedelta(days=366) if last_month else last_day - timedelta(days=366)
    return [
        ("fct_charges: 30 days by currency", """
            select currency, count(*) as attempts, count(*) filter (where status = 'succeeded') as succeeded,
                   sum(amount_captured_minor) as captured_minor, sum(amount_refunded_minor) as refunded_minor
            from analytics.fct_charges
            where livemode and created_day between :first_day and :last_day
            group by currency order by currency""", {"first_day": month_ago, "last_day": last_day}),
        ("fct_refunds: 30 days by currency", """
            select currency, count(*), sum(amount_minor) from analytics.fct_refunds
            where livemode and refunded_day between :first_day and :last_day
            group by currency order by currency""", {"first_day": month_ago, "last_day": last_day}),
        ("fct_payment_intents: 30 days recovered", """
            select currency, count(*) filter (where recovered) as recovered, count(*) as intents
            from analytics.fct_payment_intents
            where livemode and created_at >= :since group by currency order by currency""",
         {"since": month_ago}),
        ("failure_analysis: one day", """
            select * from analytics.failure_analysis where day = :day and livemode
            order by dimension, failed_attempts desc""", {"day": busiest_day}),
        ("dispute_metrics: 12 months", """
            select * from analytics.dispute_metrics where livemode and month > :since
            order by month, network""", {"since": year_ago}),
        ("student_payment_summary: one student", """
            select * from analytics.student_payment_summary where student_id = :student_id""",
         {"student_id": student_id}),
        ("fraud_signals: top 50", """
            select * from analytics.fraud_signals order by risk_score desc, entity_type, entity_id limit 50""", {}),
        ("revenue_trends: monthly", """
            select * from analytics.revenue_trends where livemode and period_type = 'month'
            order by period_start, currency""", {}),
    ]


def _sample(call, runs: int) -> tuple[float, float, float, int]:
    """(p50, p95, max) in ms over `runs` calls after one warm-up (a dashboard's second reader), and the rows."""
    result = call()  # warm-up
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    p95 = samples[min(len(samples) - 1, max(0, round(0.95 * len(samples)) - 1))]
    return statistics.median(samples), p95, samples[-1], len(result) if result is not None else 0


def time_queries(settings, engine, runs: int) -> list[tuple[str, float, float, float, int]]:
    import sqlalchemy as sa

    with engine.connect() as conn:
        first_day, last_day = conn.execute(sa.text(
            "select min(day), max(day) from analytics.payments_daily where livemode")).one()
    calls = app_reads(settings, first_day, last_day, last_day - timedelta(days=29))
    results = [(label, *_sample(call, runs)) for label, call in calls]
    with engine.connect() as conn:
        for label, sql, params in mart_queries(engine):
            statement = sa.text(sql)
            results.append((label, *_sample(lambda statement=statement, params=params:
                                            conn.execute(statement, params).all(), runs)))
    return results


# ---------------------------------------------------------------------------------------------------- main
def main() -> int:
    from dagster_project.project import DBT_REFRESH_ARGS  # needs REPO on sys.path (set above)

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=50_000,
                        help="students in the generated data (default 50000, ~1M events)")
    parser.add_argument("--days", type=int, default=90, help="days of generated data, ending 2026-06-30 (default 90)")
    parser.add_argument("--new-events", type=int, default=10_000, help="events per incremental batch (default 10000)")
    parser.add_argument("--runs", type=int, default=20, help="runs per query (default 20)")
    parser.add_argument("--home", type=Path,
                        help="PAYOPS_HOME to use (kept; its warehouse is reused when it already holds events)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary PAYOPS_HOME (Postgres is stopped either way)")
    args = parser.parse_args()

    home = args.home or Path(tempfile.mkdtemp(prefix="marts-bench-"))
    home.mkdir(parents=True, exist_ok=True)
    for name in ("WAREHOUSE_URL", "APP_DATABASE_URL", "DAGSTER_HOME", "DAGSTER_PG_URL", "PAYOPS_TIMEZONE"):
        os.environ.pop(name, None)
    os.environ["PAYOPS_HOME"] = str(home)

    from payops.db import dbt_env, ready_engine, stop_embedded
    from payops.settings import Settings

    settings = Settings.from_env()
    say(f"PAYOPS_HOME {home}; {os.cpu_count()} cores, Python {platform.python_version()}")
    say(f"uptime: {uptime()}")
    try:
        engine = ready_engine(settings)
        env = {**os.environ, **dbt_env(settings)}
        if not is_loaded(engine):
            say(f"Loading {args.students:,} students x {args.days} days of generated data:")
            load_initial(settings, engine, home, args.students, args.days)
        else:
            say("Reusing the warehouse loaded by an earlier run.")
        # Every run, so that a rerun's incremental builds find the previous run's new events as old as the rest,
        # not inside the lookback, and read what a fresh run's would.
        timed("arrival times moved to event created", as_if_received_when_created, engine)

        say("dbt:")
        dbt(env, home, "seed", "--full-refresh")
        full_build, _ = timed("full build (the refresh's dbt build --full-refresh)", dbt, env, home,
                              *DBT_REFRESH_ARGS, "--full-refresh")
        full_run, _ = timed("full dbt run --full-refresh", dbt, env, home, "run", "--full-refresh")
        timed("vacuum analyze, as autovacuum will after a full build", vacuum_analyze, engine)
        sizes = table_sizes(engine)

        last_day = END + timedelta(days=NEW_BATCH_DAYS)
        first_seed, second_seed = new_batch_seeds(home)
        add_new_events(settings, engine, home, args.new_events, first_seed, END)
        incremental_build, _ = timed("incremental build (the refresh's dbt build)", dbt, env, home, *DBT_REFRESH_ARGS)
        add_new_events(settings, engine, home, args.new_events, second_seed, last_day)
        incremental_run, _ = timed("incremental dbt run", dbt, env, home, "run")

        say(f"Queries, {args.runs} runs each (load {load_average()}):")
        query_results = time_queries(settings, engine, args.runs)
        engine.dispose()
        end_uptime = uptime()
    finally:
        stop_embedded(settings)
        if not (args.keep or args.home):
            shutil.rmtree(home, ignore_errors=True)

    build_ratio = incremental_build.seconds / full_build.seconds
    run_ratio = incremental_run.seconds / full_run.seconds
    failed = False
    say("\n## Sizes after the full build")
    for table, rows in sizes.items():
        say(f"  {table:45} {rows:>12,}")
    say("\n| step | seconds | load before | |")
    say("|---|---:|---|---|")
    for step in (full_build, full_run, incremental_build, incremental_run):
        say(f"| {step.label} | {step.seconds:,.1f} | {step.load_before} | |")
    for label, ratio in (("incremental / full, build", build_ratio), ("incremental / full, run", run_ratio)):
        verdict = "PASS" if ratio <= TARGET_RATIO else "FAIL"
        failed |= verdict == "FAIL"
        say(f"| {label} | {ratio:.1%} | target <= {TARGET_RATIO:.0%} | **{verdict}** |")
    say(f"\n| query | rows | p50 ms | p95 ms | max ms | p95 <= {TARGET_P95_MS:.0f} ms |")
    say("|---|---:|---:|---:|---:|---|")
    for label, p50, p95, worst, rows in query_results:
        verdict = "PASS" if p95 <= TARGET_P95_MS else "FAIL"
        failed |= verdict == "FAIL"
        say(f"| {label} | {rows:,} | {p50:.1f} | {p95:.1f} | {worst:.1f} | **{verdict}** |")
    say(f"\nuptime at the end: {end_uptime}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
