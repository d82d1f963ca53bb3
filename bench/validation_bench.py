"""What validating before state costs processing (issue 10: at most 10 % of processing throughput).

Generates demo events into a fresh embedded Postgres, replays them, then rebuilds the state tables from every
stored event (`ingest.processing.reprocess_all`, the whole of processing) alternately with the checks of
ingest/validation.py and with them switched off, and compares the medians of the runs.

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
    parser.add_argument("--runs", type=int, default=3, help="runs of each variant, alternating (default 3)")
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
            print(f"{loaded:,} events stored; {args.runs} alternating runs of reprocess_all each way")
            checks = processing.invalid_events
            in_checks: list[float] = []

            def timed_checks(conn, event_ids):
                started = time.perf_counter()
                try:
                    return checks(conn, event_ids)
                finally:
                    in_checks[-1] += time.perf_counter() - started

            seconds: dict[str, list[float]] = {"with checks": [], "without": []}
            for _ in range(args.runs):
                for variant in seconds:
                    in_checks.append(0.0)
                    processing.invalid_events = timed_checks if variant == "with checks" else (lambda conn, ids: {})
                    started = time.perf_counter()
                    result = processing.reprocess_all(engine)
                    seconds[variant].append(time.perf_counter() - started)
                    assert result.processed == loaded, result.summary()
                    print(f"  {variant:12} {seconds[variant][-1]:6.2f} s  {result.events_per_second:9,.0f} events/s")
            processing.invalid_events = checks
        finally:
            stop_embedded(settings)
    # The share of the checks inside the runs that made them is steadier on a busy machine than two medians.
    shares = [checked / total for checked, total in zip(in_checks[::2], seconds["with checks"], strict=True)]
    print(f"the checks took {statistics.median(shares):.1%} of processing time (median of {len(shares)} runs)")
    with_checks, without = (statistics.median(seconds[v]) for v in ("with checks", "without"))
    overhead = with_checks / without - 1
    verdict = "PASS" if overhead <= TARGET_OVERHEAD else "FAIL"
    print(f"median with checks {with_checks:.2f} s, without {without:.2f} s: overhead {overhead:+.1%} "
          f"(target <= {TARGET_OVERHEAD:.0%}) {verdict}")


if __name__ == "__main__":
    main()
