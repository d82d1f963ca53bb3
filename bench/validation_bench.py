"""What validating before state costs processing (issue 10: at most 10 % of processing throughput).

Generates demo events into a fresh embedded Postgres, replays them, then rebuilds the state tables from every
stored event (`ingest.processing.reprocess_all`, the whole of processing) alternately with the checks of
ingest/validation.py and with them switched off, and compares the medians of the runs. The checks live inside
the statement that applies a batch, so "off" is the same statement with a `held_back` that names no event.
Beside the wall time it reports CPU seconds: this process's (processing's client side) plus the Postgres server's
(every process of the cluster, ended backends included). Processing is one connection doing one thing at a time,
so on a quiet machine its wall time is about its CPU time, and CPU time is what a busy machine disturbs least: the
verdict is on CPU. Rounds alternate which variant runs first (so a load that rises or falls through the run does
not favour one), and each round's ratio compares two runs made side by side; the median of those ratios is the
result.

    .venv/bin/python bench/validation_bench.py --students 5000     # about 100,000 events, a few minutes
    .venv/bin/python bench/validation_bench.py --students 50000    # the 1,000,000 events of the other benches
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

TARGET_OVERHEAD = 0.10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=5000, help="demo students (about 20 events each)")
    parser.add_argument("--runs", type=int, default=7,
                        help="rounds, each one run with the checks and one without, in alternating order (default 7)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="validation-bench-") as home:
        os.environ["PAYOPS_HOME"] = home
        os.environ.pop("WAREHOUSE_URL", None)
        import ingest.processing as processing
        from demo.generate import generate_demo_data
        from ingest.stripe_events import replay
        from payops.db import ready_engine, stop_embedded
        from payops.settings import Settings

        settings = Settings.from_env()
        try:
            engine = ready_engine(settings)
            demo = generate_demo_data(settings, days=90, students=args.students, seed=7, end=date(2026, 6, 30),
                                      write_app=False, progress=False)
            loaded = replay(engine, [demo.out_dir]).loaded
            print(f"{loaded:,} events stored; {args.runs} rounds of reprocess_all each way, alternating which "
                  f"goes first; load average {load_average()}")
            statements = {"with checks": processing.APPLY_BATCH, "without": processing.batch_statement(NO_EVENT)}
            wall: dict[str, list[float]] = {variant: [] for variant in statements}
            cpu: dict[str, list[float]] = {variant: [] for variant in statements}
            for round_number in range(args.runs):
                order = list(statements) if round_number % 2 == 0 else list(reversed(statements))
                for variant in order:
                    processing.APPLY_BATCH = statements[variant]
                    server_before, client_before = server_cpu_seconds(settings.pgdata), time.process_time()
                    started = time.perf_counter()
                    result = processing.reprocess_all(engine)
                    wall[variant].append(time.perf_counter() - started)
                    server = server_cpu_seconds(settings.pgdata) - server_before
                    client = time.process_time() - client_before
                    cpu[variant].append(server + client)
                    assert result.processed == loaded, result.summary()
                    print(f"  round {round_number + 1} {variant:12} {wall[variant][-1]:6.2f} s  "
                          f"{result.events_per_second:9,.0f} events/s  CPU {client:5.2f} + {server:5.2f} s  "
                          f"(load {load_average()})")
            processing.APPLY_BATCH = statements["with checks"]
        finally:
            stop_embedded(settings)
    for name, figures in (("wall time", wall), ("CPU (client + server)", cpu)):
        rounds = [with_checks / without - 1 for with_checks, without in zip(figures["with checks"], figures["without"],
                                                                             strict=True)]
        overhead = statistics.median(rounds)
        verdict = "PASS" if overhead <= TARGET_OVERHEAD else "FAIL"
        print(f"{name}: medians with checks {statistics.median(figures['with checks']):.2f} s, without "
              f"{statistics.median(figures['without']):.2f} s; rounds {', '.join(f'{r:+.1%}' for r in rounds)}; "
              f"median of the rounds {overhead:+.1%} (target <= {TARGET_OVERHEAD:.0%})"
              + (f" {verdict}" if figures is cpu else " (for reference)"))


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


NO_EVENT = "select null::text as event_id, null::text as message where false"
"""A `held_back` query for ingest.processing.batch_statement that holds nothing back: processing without checks."""


def server_cpu_seconds(pgdata: Path) -> float:
    """User and system CPU seconds of the cluster's postmaster and its live children, plus its reaped children
    (ended backends, autovacuum workers): fields 14-17 of /proc/<pid>/stat."""
    postmaster = int((pgdata / "postmaster.pid").read_text().split()[0])
    children = Path(f"/proc/{postmaster}/task/{postmaster}/children").read_text().split()
    ticks = 0
    for pid in [postmaster, *map(int, children)]:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:  # ended between the listing and the read; its time went to the postmaster
            continue
        ticks += sum(int(value) for value in fields[11:15 if pid == postmaster else 13])
    return ticks / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    main()
