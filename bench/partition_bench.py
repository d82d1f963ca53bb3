"""Replay into the monthly-partitioned raw.stripe_events (migration 0010) against a COPY of the same JSON lines into
a one-column jsonb table (replay_bench.py's baseline), and whether ingest slows as the table grows.

Issue 16 asks that replay into the partitioned table stays within 1.5x of COPY at 1,000,000 events spread over
12 monthly partitions. The events are the demo generator's (seed 7), with each event's `created` moved to a day
of July 2025 - June 2026 chosen by a hash of its event id (so the duplicate deliveries the generator plants keep
one `created`, as Stripe's do, and stay duplicates). The replay runs in CHUNKS consecutive loads of equal size,
each in its own process, so events/s can be compared between the first fifth of the table and the last.

    .venv/bin/python bench/partition_bench.py                       # the issue's size: 1,000,000 events
    .venv/bin/python bench/partition_bench.py --events 200000       # what fits in a few minutes
    .venv/bin/python bench/partition_bench.py --events 200000 --plain   # the same into the unpartitioned table
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from replay_bench import (  # noqa: E402  (the replay bench's harness: same COPY baseline, same child replay)
    BARE_TABLE,
    DAYS,
    END,
    EVENTS_PER_STUDENT,
    MARGIN,
    SEED,
    checkpoint,
    count_lines,
    execute,
    first_spread_month,
    jsonl_files,
    load_avg,
    log,
    machine,
    run_child,
    scalar,
    spread_created,
    timed_copy,
    trim_to,
)

MONTHS = 12
FIRST_MONTH = first_spread_month(MONTHS)
CHUNKS = 5
TARGET_COPY_RATIO = 1.5


def prepare(settings, home: Path, events: int) -> list[Path]:
    """Generate the demo events, trim to `events` lines, move each `created`, and split into CHUNKS files."""
    from demo.generate import generate_demo_data

    generated = home / "generated"
    students = max(21, int(events / EVENTS_PER_STUDENT * MARGIN) + 1)
    log(f"generating events: students={students} days={DAYS} seed={SEED} end={END}")
    generate_demo_data(settings, days=DAYS, students=students, seed=SEED, end=END, out_dir=generated, fmt="jsonl",
                       progress=False, write_app=False)
    lines = [line for path in trim_to(jsonl_files(generated), events) for line in path.read_bytes().splitlines()]
    shutil.rmtree(generated)
    out = home / "chunks"
    out.mkdir()
    size = -(-len(lines) // CHUNKS)
    chunks = []
    for index in range(CHUNKS):
        path = out / f"events-{index}.jsonl"
        with path.open("wb") as sink:
            for line in lines[index * size:(index + 1) * size]:
                event = orjson.loads(line)
                event["created"] = spread_created(event["id"], MONTHS)
                sink.write(orjson.dumps(event) + b"\n")
        chunks.append(path)
    return chunks


def before_partitioning(settings):
    """The warehouse at the revision before migration 0010: raw.stripe_events as one plain table, for comparison."""
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from payops.db import MIGRATIONS_DIR, engine

    warehouse = engine(settings)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with warehouse.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, ScriptDirectory.from_config(config).get_revision("0010").down_revision)
    return warehouse


def run(args: argparse.Namespace) -> dict:
    home = Path(tempfile.mkdtemp(prefix="payops-partition-bench-")).resolve()
    os.environ["PAYOPS_HOME"] = str(home)
    for name in ("WAREHOUSE_URL", "APP_DATABASE_URL", "DAGSTER_PG_URL", "DAGSTER_HOME"):
        os.environ.pop(name, None)

    from payops.db import ready_engine, stop_embedded
    from payops.settings import Settings

    settings = Settings.from_env()
    try:
        if args.plain:
            engine = before_partitioning(settings)
        else:
            engine = ready_engine(settings)
            last = FIRST_MONTH + timedelta(days=31 * (MONTHS - 1))
            execute(engine, f"select raw.ensure_stripe_events_partitions('{FIRST_MONTH}', '{last}')")
        url = engine.url.render_as_string(hide_password=False)
        chunks = prepare(settings, home, args.events)
        rows = sum(count_lines(chunk) for chunk in chunks)
        execute(engine, BARE_TABLE)
        checkpoint(engine)
        log(f"COPY {rows:,} JSON lines into a one-column jsonb table; load {load_avg()}")
        copy_run = timed_copy(engine, chunks, settings.pgdata)
        log(f"    COPY: {copy_run['seconds']:.1f} s")
        execute(engine, "drop table bench_copy")
        checkpoint(engine)
        replay_runs = []
        for index, chunk in enumerate(chunks, 1):
            log(f"replay chunk {index}/{CHUNKS} ({chunk.name}); load {load_avg()}")
            stats = run_child(url, [chunk], settings.pgdata)
            stats["events_per_second"] = (stats["loaded"] + stats["duplicates"]) / stats["seconds"]
            stats["load"] = load_avg()
            replay_runs.append(stats)
            log(f"    {stats['seconds']:.1f} s, {stats['loaded']:,} loaded, {stats['duplicates']:,} duplicates, "
                f"{stats['events_per_second']:,.0f} events/s")
        replay_seconds = sum(run["seconds"] for run in replay_runs)
        partitions = scalar(engine, "select count(*) from pg_inherits where inhparent = 'raw.stripe_events'::regclass")
        with_events = scalar(engine, "select count(distinct tableoid) from raw.stripe_events")
        stored = scalar(engine, "select count(*) from raw.stripe_events")
        # The primary key's index over every partition (or the one table): what an insert must find its leaf in.
        key_bytes = scalar(engine, """
            select sum(pg_relation_size(index.indexrelid)) from pg_index as index
            where index.indisprimary and index.indrelid in (
                select 'raw.stripe_events'::regclass union all
                select inhrelid from pg_inherits where inhparent = 'raw.stripe_events'::regclass)
        """)
        results = {
            "machine": machine(), "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "table": "plain (before migration 0010)" if args.plain else "partitioned by month",
            "events": rows, "stored": stored, "partitions": partitions, "partitions_with_events": with_events,
            "primary_key_bytes_per_event": round(float(key_bytes) / stored, 1),
            "copy_seconds": round(copy_run["seconds"], 2), "replay_seconds": round(replay_seconds, 2),
            "ratio": round(replay_seconds / copy_run["seconds"], 3),
            "chunk_events_per_second": [round(run["events_per_second"]) for run in replay_runs],
            "last_vs_first_chunk": round(replay_runs[-1]["events_per_second"] / replay_runs[0]["events_per_second"], 3),
            "chunk_load": [run["load"] for run in replay_runs],
        }
        results["pass"] = results["ratio"] <= TARGET_COPY_RATIO
        return results
    finally:
        stop_embedded(settings)
        shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000, help="events to replay (default: the issue's 1M)")
    parser.add_argument("--plain", action="store_true",
                        help="replay into the unpartitioned table of the revision before 0010 instead, for comparison")
    args = parser.parse_args()
    started = time.perf_counter()
    results = run(args)
    results["wall_seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(results, indent=2))
    sys.exit(0 if results["pass"] else 1)


if __name__ == "__main__":
    main()
