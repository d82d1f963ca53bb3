"""Benchmark `ingest.stripe_events.replay` (what `payops ingest replay` runs) against a plain COPY of the same lines.

Issue 10 asks that replaying 1,000,000 Stripe events takes at most 1.5x the time of a `COPY` of the same JSON lines
into a bare one-column `jsonb` table, median of three alternating runs; the foundation issue's memory target stays:
at most 500 MB peak RSS for the replay's process.

The COPY streams the event files byte for byte, with nothing extracted or escaped beforehand (CSV format whose quote
and delimiter are control characters, which JSON never holds unescaped). The replay goes into raw.stripe_events with
every index, constraint and the webhook event log it keeps, partitioned by month with the partitions of the events'
months made beforehand (as the daily upkeep job makes them).

Everything happens in a fresh embedded Postgres under its own PAYOPS_HOME (a temporary folder unless --home),
so the numbers do not depend on, or disturb, anybody's warehouse. Run it on a quiet machine: it prints the
load average before each timed step so a noisy run can be recognised.

    .venv/bin/python bench/replay_bench.py --home /tmp/rb --prepare   # generate 1M events once (not timed)
    .venv/bin/python bench/replay_bench.py --home /tmp/rb --repeat 3  # the issue's measure
    .venv/bin/python bench/replay_bench.py --events 20000             # a quick smoke run
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

SEED = 7
DAYS = 90
END = date(2026, 6, 30)
EVENTS_PER_STUDENT = 21.0
"""Measured with the seed, days and end above; students are sized from it with a margin, then trimmed."""
MARGIN = 1.03
COPY_BLOCK = 1 << 20
TARGET_COPY_RATIO = 1.5
TARGET_RSS_MB = 500.0
BENCH_MARKER = ".replay-bench.json"
BARE_TABLE = "create table bench_copy (payload jsonb)"
COPY_LINES = "copy bench_copy (payload) from stdin (format csv, quote e'\\x01', delimiter e'\\x02')"
"""Each line as one field, untouched: JSON escapes every control character inside its strings."""
SOURCE = "bench"
EMPTY_EVENTS = "truncate raw.stripe_events, ops.webhook_event_log"
"""The log as well: the events' truncate trigger empties it with a DELETE, which would leave the next round a log
and an event-id index full of dead rows."""


# --------------------------------------------------------------------------------------------- child mode
def vm_status(field: str) -> int:
    """A memory figure of this process in KB from /proc/self/status (VmHWM: peak RSS, VmRSS: current).

    VmHWM belongs to the address space exec created, so unlike ru_maxrss it does not inherit the
    parent's peak: Linux carries the pre-exec high-water mark into ru_maxrss, and the parent here
    has the generator's large buffers behind it."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child_replay(url: str, files: list[str]) -> None:
    """Runs in its own process so its max RSS is the replay's alone; imports nothing from payops."""
    import sqlalchemy as sa

    from ingest.stripe_events import replay

    engine = sa.create_engine(url)
    with engine.connect() as conn:  # connect (and import the driver) before measuring
        conn.execute(sa.text("select 1"))
    rss_ready = vm_status("VmRSS")
    cpu = time.process_time()
    start = time.perf_counter()
    result = replay(engine, [Path(f) for f in files], source=SOURCE)
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu
    engine.dispose()
    print(json.dumps({
        "seconds": seconds, "client_cpu": cpu, "loaded": result.loaded, "duplicates": result.duplicates,
        "rejected": result.rejected, "files": result.files, "rss_ready_kb": rss_ready,
        "peak_rss_kb": vm_status("VmHWM"), "ru_maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }))


def run_child(url: str, files: list[Path], pgdata: Path) -> dict:
    """The replay in a child process. Its peak RSS is the child's own VmHWM; the parent's wait4 ru_maxrss is
    kept for reference only (it includes this process's peak, inherited across fork and exec)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child-url", url, "--child-files", *map(str, files)]
    server = server_cpu(pgdata)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, cwd=REPO)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stdout.close()
    wall = time.perf_counter() - start
    server = server_cpu(pgdata) - server
    if proc.returncode != 0:
        raise RuntimeError(f"replay child failed with exit code {proc.returncode}")
    stats = json.loads(out.decode().strip().splitlines()[-1])
    stats["process_seconds"] = wall
    stats["server_cpu"] = server
    stats["wait4_maxrss_kb"] = usage.ru_maxrss
    return stats


# --------------------------------------------------------------------------------------------- helpers
def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def load_avg() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def machine() -> dict:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    return {"nproc": os.cpu_count(), "cpu": model, "mem_gb": round(mem_gb, 1),
            "python": platform.python_version(), "kernel": platform.release()}


def server_cpu(pgdata: Path) -> float:
    """CPU seconds used so far by the embedded Postgres: the postmaster, its live children (backends, WAL
    writer, checkpointer, ...) and its exited children. Read from /proc, so it counts work done on our behalf
    whatever else the machine runs."""
    tick = os.sysconf("SC_CLK_TCK")

    def stat(pid: int) -> list[str]:
        text = Path(f"/proc/{pid}/stat").read_text()
        return text[text.rindex(")") + 2:].split()  # fields from 3 (state) on

    postmaster = int((pgdata / "postmaster.pid").read_text().split()[0])
    fields = stat(postmaster)
    total = sum(int(x) for x in fields[11:15])  # utime, stime, cutime, cstime
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                child = stat(int(entry.name))
            except (OSError, ValueError):
                continue
            if int(child[1]) == postmaster:
                total += int(child[11]) + int(child[12])
    return total / tick


def jsonl_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("events-*.jsonl"))


def count_lines(path: Path) -> int:
    lines = 0
    with path.open("rb") as f:
        while block := f.read(COPY_BLOCK * 8):
            lines += block.count(b"\n")
    return lines


def trim_to(files: list[Path], limit: int) -> list[Path]:
    """Keep exactly the first `limit` lines across files (in order); later files are deleted."""
    kept, remaining = [], limit
    for path in files:
        if remaining <= 0:
            path.unlink()
            continue
        lines = count_lines(path)
        if lines > remaining:
            with path.open("rb") as f:
                head = b"".join(f.readline() for _ in range(remaining))
            path.write_bytes(head)
            lines = remaining
        kept.append(path)
        remaining -= lines
    return kept


def checkpoint(engine) -> None:
    """Flush dirty buffers before a timed step so it does not pay for the previous one's writes."""
    import sqlalchemy as sa

    with engine.connect() as conn:
        conn.execute(sa.text("checkpoint"))


def execute(engine, *statements: str) -> None:
    import sqlalchemy as sa

    with engine.begin() as conn:
        for statement in statements:
            conn.execute(sa.text(statement))


def scalar(engine, statement: str):
    import sqlalchemy as sa

    with engine.connect() as conn:
        return conn.execute(sa.text(statement)).scalar()


def timed_copy(engine, files: list[Path], pgdata: Path) -> dict:
    """COPY the event files, byte for byte, into the bare one-column jsonb table, in one transaction."""
    raw = engine.raw_connection()
    try:
        driver = raw.driver_connection
        server, cpu = server_cpu(pgdata), time.process_time()
        start = time.perf_counter()
        with driver.cursor() as cur, cur.copy(COPY_LINES) as copy:
            for path in files:
                with path.open("rb") as f:
                    while block := f.read(COPY_BLOCK):
                        copy.write(block)
        driver.commit()
        seconds = time.perf_counter() - start
        return {"seconds": seconds, "client_cpu": time.process_time() - cpu,
                "server_cpu": server_cpu(pgdata) - server}
    finally:
        raw.close()


def wal_written(engine) -> dict:
    """WAL bytes and full-page images written by the whole server so far (pg_stat_wal)."""
    import sqlalchemy as sa

    with engine.connect() as conn:
        row = conn.execute(sa.text("select wal_bytes, wal_fpi from pg_stat_wal")).one()
    return {"wal_bytes": int(row.wal_bytes), "wal_fpi": int(row.wal_fpi)}


def wal_since(engine, before: dict) -> dict:
    return {name: value - before[name] for name, value in wal_written(engine).items()}


def first_spread_month(months: int) -> date:
    """The first of `months` calendar months ending with END's."""
    index = END.year * 12 + END.month - months
    return date(index // 12, index % 12 + 1, 1)


def spread_created(event_id: str, months: int) -> int:
    """A second within the `months` months ending with END's, fixed by the event id: the duplicate deliveries the
    generator plants keep one `created`, as Stripe's do, and stay duplicates."""
    first = datetime.combine(first_spread_month(months), datetime.min.time(), UTC)
    span = int((datetime.combine(END + timedelta(days=1), datetime.min.time(), UTC) - first).total_seconds())
    offset = int.from_bytes(hashlib.blake2b(event_id.encode(), digest_size=8).digest()) % span
    return int(first.timestamp()) + offset


def event_month_partitions(engine, months: int | None) -> None:
    """The monthly partitions of the events' months, as the daily upkeep job would have made them."""
    first = first_spread_month(months) if months else END - timedelta(days=DAYS)
    execute(engine, f"select raw.ensure_stripe_events_partitions('{first:%Y-%m-01}', '{END:%Y-%m-01}')")


# --------------------------------------------------------------------------------------------- the run
def prepare_events(settings, home: Path, events: int) -> dict:
    """Generate (or reuse, when --home already holds this exact set) the events, trimmed to `events` lines."""
    from demo.generate import generate_demo_data

    landing = home / "landing" / "stripe"
    marker = home / BENCH_MARKER
    wanted = {"events": events, "seed": SEED, "days": DAYS, "end": END.isoformat()}
    if marker.exists() and json.loads(marker.read_text()).get("wanted") == wanted:
        log(f"reusing the events generated earlier in {home}")
        return json.loads(marker.read_text())
    students = max(21, int(events / EVENTS_PER_STUDENT * MARGIN) + 1)
    log(f"generating events: students={students} days={DAYS} seed={SEED} end={END} (write_app=False)")
    start = time.perf_counter()
    summary = generate_demo_data(settings, days=DAYS, students=students, seed=SEED, end=END, out_dir=landing,
                                 fmt="jsonl", progress=sys.stderr.isatty(), write_app=False)
    generated_seconds = time.perf_counter() - start
    log(f"generated {summary.events_written:,} events ({summary.unique_events:,} unique) "
        f"in {generated_seconds:.0f} s")
    files = trim_to(jsonl_files(landing), events)
    info = {
        "wanted": wanted, "students": students, "generated_events": summary.events_written,
        "generated_seconds": round(generated_seconds, 1), "events": sum(count_lines(f) for f in files),
        "files": [str(f) for f in files], "jsonl_bytes": sum(f.stat().st_size for f in files),
    }
    marker.write_text(json.dumps(info))
    return info


def spread_events(home: Path, data: dict, months: int) -> dict:
    """The prepared events again, each `created` moved by spread_created into `months` months (issue 16's monthly
    partitions), written beside them once and reused while they match."""
    marker = home / f".replay-bench-{months}-months.json"
    wanted = data["wanted"] | {"months": months}
    if marker.exists() and json.loads(marker.read_text()).get("wanted") == wanted:
        log(f"reusing the events spread over {months} months earlier in {home}")
        return json.loads(marker.read_text())
    folder = home / "landing" / f"stripe-{months}-months"
    folder.mkdir(parents=True, exist_ok=True)
    log(f"spreading the events' created over {months} months into {folder}")
    files = []
    for source in map(Path, data["files"]):
        target = folder / source.name
        with source.open("rb") as lines, target.open("wb") as sink:
            for line in lines:
                event = orjson.loads(line)
                event["created"] = spread_created(event["id"], months)
                sink.write(orjson.dumps(event) + b"\n")
        files.append(target)
    info = data | {"wanted": wanted, "files": [str(f) for f in files],
                   "jsonl_bytes": sum(f.stat().st_size for f in files)}
    marker.write_text(json.dumps(info))
    return info


def run(args: argparse.Namespace) -> dict:
    created_home = args.home is None or not Path(args.home).exists()
    home = Path(args.home or tempfile.mkdtemp(prefix="payops-replay-bench-")).resolve()
    home.mkdir(parents=True, exist_ok=True)
    # A fresh embedded Postgres of our own: never someone's WAREHOUSE_URL.
    os.environ["PAYOPS_HOME"] = str(home)
    for name in ("WAREHOUSE_URL", "APP_DATABASE_URL", "DAGSTER_PG_URL", "DAGSTER_HOME"):
        os.environ.pop(name, None)

    from payops.db import migrate, ready_engine, stop_embedded
    from payops.settings import Settings

    settings = Settings.from_env()
    log(f"PAYOPS_HOME={home}; load average {load_avg()}")
    try:
        engine = ready_engine(settings)
        url = engine.url.render_as_string(hide_password=False)
        data = prepare_events(settings, home, args.events)
        if args.months:
            data = spread_events(home, data, args.months)
        if args.prepare:
            return {}
        files = [Path(f) for f in data["files"]]
        event_month_partitions(engine, args.months)
        results: dict = {"machine": machine(), "postgres": scalar(engine, "select version()"),
                         "settings": {k: scalar(engine, f"show {k}") for k in
                                      ("shared_buffers", "max_wal_size", "checkpoint_timeout",
                                                "synchronous_commit", "wal_level")},
                         "data": {k: v for k, v in data.items() if k not in ("files", "wanted")}
                         | {"file_count": len(files)},
                         "date": datetime.now(UTC).isoformat(timespec="seconds"), "repeat": args.repeat,
                         "partitions_with_events": None,
                         "copy_seconds": [], "copy_runs": [], "payops_seconds": [], "payops_runs": [], "load": {}}
        pgdata = settings.pgdata

        execute(engine, "drop table if exists bench_copy", BARE_TABLE, EMPTY_EVENTS, "truncate ops.rejected_records")
        for attempt in range(1, args.repeat + 1):
            execute(engine, "truncate bench_copy", EMPTY_EVENTS)
            checkpoint(engine)
            results["load"][f"copy#{attempt}"] = load_avg()
            log(f"[{attempt}/{args.repeat}] COPY {data['events']:,} JSON lines into a one-column jsonb table; "
                f"load {load_avg()}")
            wal = wal_written(engine)
            copy_run = timed_copy(engine, files, pgdata) | wal_since(engine, wal)
            results["copy_seconds"].append(copy_run["seconds"])
            results["copy_runs"].append(copy_run)
            log(f"    COPY: {copy_run['seconds']:.1f} s (CPU: client {copy_run['client_cpu']:.1f} s, "
                f"server {copy_run['server_cpu']:.1f} s; WAL {copy_run['wal_bytes'] / 1e9:.2f} GB, "
                f"{copy_run['wal_fpi']:,} page images)")
            execute(engine, "truncate bench_copy")  # the replay writes into a server without the COPY's gigabytes
            migrate(engine)  # ingest/ may have moved on since the run started; replay needs its tables
            checkpoint(engine)
            results["load"][f"payops#{attempt}"] = load_avg()
            log(f"[{attempt}/{args.repeat}] payops replay of {data['events']:,} events; load {load_avg()}")
            wal = wal_written(engine)
            stats = run_child(url, files, pgdata) | wal_since(engine, wal)
            results["payops_seconds"].append(stats["seconds"])
            results["payops_runs"].append(stats)
            log(f"    replay: {stats['seconds']:.1f} s, {stats['loaded']:,} loaded, {stats['duplicates']:,} "
                f"duplicates, {stats['rejected']} rejected, peak RSS {stats['peak_rss_kb'] / 1024:.0f} MB "
                f"(CPU: client {stats['client_cpu']:.1f} s, server {stats['server_cpu']:.1f} s; "
                f"WAL {stats['wal_bytes'] / 1e9:.2f} GB, {stats['wal_fpi']:,} page images)")
        results["partitions_with_events"] = scalar(engine, "select count(distinct tableoid) from raw.stripe_events")
        results["sizes"] = {"raw.stripe_events": scalar(
            engine, "select pg_size_pretty(sum(pg_total_relation_size(inhrelid))) from pg_inherits "
                    "where inhparent = 'raw.stripe_events'::regclass")}
        execute(engine, "drop table bench_copy", EMPTY_EVENTS)
    finally:
        stopped = stop_embedded(settings)
        log(f"embedded Postgres {'stopped' if stopped else 'was not running'}")
        if created_home and not args.keep and not args.prepare:
            shutil.rmtree(home, ignore_errors=True)
            log(f"removed {home}")
        else:
            log(f"kept {home}")
    return results


def summarize(r: dict) -> dict:
    def cpu(run: dict) -> float:
        return run["client_cpu"] + run["server_cpu"]

    return {
        "copy_s": statistics.median(r["copy_seconds"]), "payops_s": statistics.median(r["payops_seconds"]),
        "rss_mb": max(run["peak_rss_kb"] for run in r["payops_runs"]) / 1024,
        "copy_ratio": statistics.median(r["payops_seconds"]) / statistics.median(r["copy_seconds"]),
        "copy_ratio_best": min(r["payops_seconds"]) / min(r["copy_seconds"]),
        "round_ratios": [payops / copy for payops, copy in zip(r["payops_seconds"], r["copy_seconds"], strict=True)],
        "copy_cpu": statistics.median(cpu(x) for x in r["copy_runs"]),
        "payops_cpu": statistics.median(cpu(x) for x in r["payops_runs"]),
        "copy_server_cpu": statistics.median(x["server_cpu"] for x in r["copy_runs"]),
        "payops_server_cpu": statistics.median(x["server_cpu"] for x in r["payops_runs"]),
    }


def report(r: dict) -> str:
    s = summarize(r)
    d = r["data"]
    n = d["events"]

    def verdict(ok: bool) -> str:
        return "PASS" if ok else "FAIL"

    def cpus(run: dict) -> str:
        return f"{run['client_cpu']:.1f} + {run['server_cpu']:.1f}"

    med_copy = sorted(r["copy_runs"], key=lambda x: x["seconds"])[len(r["copy_runs"]) // 2]
    med_payops = sorted(r["payops_runs"], key=lambda x: x["seconds"])[len(r["payops_runs"]) // 2]
    def wal(run: dict) -> str:
        return f"{run['wal_bytes'] / 1e9:.2f} GB, {run['wal_fpi']:,} FPI"

    rows = [
        ("step", "events", "seconds", "events/s", "CPU s client + server", "WAL (median run)"),
        ("COPY into one-column jsonb", f"{n:,}", f"{s['copy_s']:.1f}", f"{n / s['copy_s']:,.0f}", cpus(med_copy),
         wal(med_copy)),
        ("payops replay", f"{n:,}", f"{s['payops_s']:.1f}", f"{n / s['payops_s']:,.0f}", cpus(med_payops),
         wal(med_payops)),
    ]
    width = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "",
        f"Replay benchmark, {r['date']}",
        f"machine: {r['machine']['nproc']} cores, {r['machine']['cpu']}, {r['machine']['mem_gb']} GB RAM, "
        f"Python {r['machine']['python']}",
        f"postgres: {r['postgres'].split(' on ')[0]} (embedded; "
        + ", ".join(f"{k}={v}" for k, v in r["settings"].items()) + ")",
        f"input: {n:,} events in {d['file_count']} JSONL file(s), {d['jsonl_bytes'] / 1e9:.2f} GB",
        f"repetitions: {r['repeat']} alternating (median shown); COPY runs "
        f"{', '.join(f'{x:.1f}' for x in r['copy_seconds'])} s; replay runs "
        f"{', '.join(f'{x:.1f}' for x in r['payops_seconds'])} s",
        "load average (1/5/15 min) before each step: " + "; ".join(f"{k} {v}" for k, v in r["load"].items()),
        "",
    ]
    lines += ["  ".join(cell.rjust(width[i]) if i else cell.ljust(width[i]) for i, cell in enumerate(row))
              for row in rows]
    lines += [
        "",
        f"payops / COPY     = {s['copy_ratio']:5.2f}x   (target <= {TARGET_COPY_RATIO:g})   "
        f"{verdict(s['copy_ratio'] <= TARGET_COPY_RATIO)}"
        f"   [best runs {s['copy_ratio_best']:.2f}x; CPU seconds {s['payops_cpu'] / s['copy_cpu']:.2f}x, "
        f"server's alone {s['payops_server_cpu'] / s['copy_server_cpu']:.2f}x]",
        # Each round's replay against the COPY run just before it: the medians above may pair a fast COPY with a
        # slow one when the machine's load moves, these never do.
        f"  each round's replay / its COPY: {', '.join(f'{x:.2f}x' for x in s['round_ratios'])} "
        f"(median {statistics.median(s['round_ratios']):.2f}x)",
        f"peak RSS (replay) = {s['rss_mb']:5.0f} MB  (target <= {TARGET_RSS_MB:g})   "
        f"{verdict(s['rss_mb'] <= TARGET_RSS_MB)}",
        f"  (RSS after imports and connecting, before replay: "
        f"{r['payops_runs'][0]['rss_ready_kb'] / 1024:.0f} MB; Postgres server memory not included)",
    ]
    run0 = r["payops_runs"][0]
    lines.append(f"replay result: {run0['loaded']:,} loaded, {run0['duplicates']:,} duplicates, "
                 f"{run0['rejected']} rejected, in {r['partitions_with_events']} monthly partitions; "
                 f"stored {r['sizes']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=(
            "Time `payops ingest replay` (ingest.stripe_events.replay) on generated Stripe events against a "
            "COPY of the same JSON lines into a bare one-column jsonb table, alternating, and measure the replay's "
            "peak memory. Starts its own embedded Postgres under a fresh PAYOPS_HOME, prints the ratios with "
            f"PASS/FAIL against the targets (replay <= {TARGET_COPY_RATIO:g}x COPY, median of the runs; "
            f"<= {TARGET_RSS_MB:g} MB peak RSS) and exits 1 when one fails. Needs ~2 GB of event files per "
            "million events plus ~5 GB in Postgres, deleted at the end unless --keep or --home."
        ),
        epilog="Run it alone: other heavy work on the machine (tests, builds) skews the timings.",
    )
    parser.add_argument("--events", type=int, default=1_000_000,
                        help="events to replay and COPY (default 1,000,000); generated with the demo generator "
                             f"(seed {SEED}, {DAYS} days ending {END}) and trimmed to exactly this many lines")
    parser.add_argument("--repeat", type=int, default=3,
                        help="alternating COPY/replay runs at full size, tables emptied between them; the median "
                             "is reported (default 3)")
    parser.add_argument("--home", help="PAYOPS_HOME for the run: embedded Postgres data and generated events "
                                       "(default: a fresh temporary folder). An existing folder is kept, and "
                                       "events generated there earlier with the same sizes are reused.")
    parser.add_argument("--prepare", action="store_true",
                        help="only generate the events into --home and exit, so that a later timed run (under a "
                             "shared lock, say) spends no time generating")
    parser.add_argument("--months", type=int, choices=range(1, 121), metavar="N",
                        help="spread the events' created over the N months ending June 2026 (issue 16: 12, one "
                             "partition each), in a copy of the prepared files kept beside them; default: the "
                             f"generator's own {DAYS} days")
    parser.add_argument("--keep", action="store_true",
                        help="keep the data folder (gigabytes) instead of deleting it at the end")
    parser.add_argument("--json", type=Path, help="also write the raw measurements to this JSON file")
    parser.add_argument("--child-url", help=argparse.SUPPRESS)
    parser.add_argument("--child-files", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child_url:
        child_replay(args.child_url, args.child_files or [])
        return 0
    if args.events < 1 or args.repeat < 1:
        parser.error("--events and --repeat must be at least 1")
    if args.prepare and not args.home:
        parser.error("--prepare needs --home, where the events are kept for the timed run")

    results = run(args)
    if args.prepare:
        return 0
    print(report(results))
    s = summarize(results)
    if args.json:
        args.json.write_text(json.dumps(results | {"summary": s}, indent=2, default=str))
    return 0 if s["copy_ratio"] <= TARGET_COPY_RATIO and s["rss_mb"] <= TARGET_RSS_MB else 1


if __name__ == "__main__":
    sys.exit(main())
