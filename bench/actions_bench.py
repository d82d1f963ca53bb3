"""From "confirm" to the audit row: what a refund through actions/ adds to the local Stripe's own response time.

Baseline: the same SDK call (refunds.create with an idempotency key) straight to the local server. Measured:
`actions.refunds.refund`, from the call to the committed outcome row (checks, TOTP freshness, advisory lock,
requested row, the limiter, the Stripe call, the outcome row). Both on their own fresh charges, interleaved so
machine noise hits both alike. The target: p95(refund) - p95(direct) <= 100 ms.

    .venv/bin/python bench/actions_bench.py --refunds 300
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import pyotp

from actions.guards import enroll_totp, verify_totp
from actions.local_stripe import serving
from actions.refunds import RefundForm, refund
from actions.service import Actions, new_idempotency_key
from payops.db import ready_engine, stop_embedded
from payops.settings import Settings
from payops.users import add_user

ADMIN = "bench@example.com"


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--refunds", type=int, default=300, help="refunds of each kind (default 300)")
    args = parser.parse_args()
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from local_stripe import charge  # the tests' helper: make a charge through the SDK, mirror it to raw

    with tempfile.TemporaryDirectory() as home:
        Path(home).chmod(0o755)
        settings = Settings.from_env({"PAYOPS_HOME": home})
        try:
            with serving() as url:
                settings = Settings(**{**settings.__dict__, "stripe_api_base": url})
                actions = Actions(settings, ready_engine(settings), admin_actions_per_hour=10 * args.refunds,
                                  stripe_calls_per_second=1000)
                add_user(actions.engine, ADMIN, "admin", added_by="bench")
                secret = enroll_totp(actions.engine, settings, ADMIN).secret
                verify_totp(actions.engine, actions.writer, settings, ADMIN, pyotp.TOTP(secret).now())
                direct, through = [], []
                for _ in range(args.refunds):
                    plain, guarded = (charge(actions.stripe, actions.engine, 5000) for _ in range(2))
                    started = time.perf_counter()
                    actions.stripe.v1.refunds.create({"charge": plain.id, "amount": 1000},
                                                     {"idempotency_key": new_idempotency_key()})
                    direct.append(time.perf_counter() - started)
                    started = time.perf_counter()
                    result = refund(actions, ADMIN, RefundForm(guarded.id, "10.00", "requested_by_customer",
                                                               new_idempotency_key()))
                    through.append(time.perf_counter() - started)
                    assert result.succeeded, result.error
                actions.close()
        finally:
            stop_embedded(settings)
    for name, samples in (("local Stripe alone", direct), ("refund via actions/", through)):
        print(f"{name:22} p50 {statistics.median(samples) * 1000:7.1f} ms   p95 {p95(samples) * 1000:7.1f} ms")
    print(f"overhead at p95: {(p95(through) - p95(direct)) * 1000:.1f} ms (target <= 100 ms), "
          f"ratio {p95(through) / p95(direct):.2f}x over {args.refunds} refunds each")


if __name__ == "__main__":
    main()
