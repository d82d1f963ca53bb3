"""A local Stripe for tests and the demo: localstripe (charges, refunds, payment intents) plus what it lacks.

localstripe (PyPI) serves charges, refunds, customers, payment methods and intents. It has no disputes, no
Files API, no idempotency keys, and cannot confirm an intent with a new payment method. This module adds those
to the same aiohttp application, following Stripe's documented request, response and error shapes:

- `Idempotency-Key` on POSTs: the first answer is stored and replayed for the same key; the same key with
  other parameters is a 400 `idempotency_error`, as at Stripe.
- Disputes: GET /v1/disputes[/{id}], POST /v1/disputes/{id} (evidence, submit, metadata), POST
  /v1/disputes/{id}/close; a dispute is opened for a charge with POST /_config/disputes (a test hook, like
  localstripe's own /_config routes).
- Files: POST /v1/files (multipart: file, purpose), GET /v1/files/{id}.
- POST /v1/payment_intents/{id}/confirm with `payment_method`, from requires_payment_method.
- `reason` on POST /v1/refunds, and `fraud_details[user_report]` on POST /v1/charges/{id}.

Run it with `python -m actions.local_stripe --port 8420` (127.0.0.1 only). Nothing is written to disk.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import httpx


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serving(*args: str, env: Mapping[str, str] | None = None) -> Iterator[str]:
    """Run the local Stripe in a subprocess on a free 127.0.0.1 port; yields its base address. `env` is the
    subprocess's whole environment (default: this process's), which --seed reads the warehouse's address from."""
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-m", "actions.local_stripe", "--port", str(port), *args],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{url}/v1/charges", headers={"Authorization": "Bearer sk_test_local"}, timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"local Stripe did not start: {process.stderr.read().decode()}") from None
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(10)
