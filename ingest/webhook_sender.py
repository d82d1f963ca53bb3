"""Deliver Stripe event files to a webhook endpoint, signed as Stripe signs them: for local testing and replays.

Each event is signed at the moment it is sent (Stripe signs every retry afresh too), so a slow send never
runs into the receiver's timestamp tolerance.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from tqdm import tqdm

from ingest.stripe_events import expand_paths, read_file

CONTENT_TYPE = "application/json; charset=utf-8"
USER_AGENT = "payops-webhook-sender"
TIMEOUT_SECONDS = 30.0


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The Stripe-Signature header: `t=<unix>,v1=<hex HMAC-SHA256 of "{t}.{body}" keyed by the secret>`."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), b"%d." % t + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def signed_headers(payload: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    return {
        "Content-Type": CONTENT_TYPE,
        "User-Agent": USER_AGENT,
        "Stripe-Signature": sign(payload, secret, timestamp),
    }


async def post_event(client: httpx.AsyncClient, url: str, secret: str, payload: bytes) -> str:
    """POST one signed event; the answer's status code, or the transport error's name when there was none."""
    try:
        response = await client.post(url, content=payload, headers=signed_headers(payload, secret))
    except httpx.TransportError as exc:
        return type(exc).__name__
    return str(response.status_code)


@dataclass
class SendSummary:
    outcomes: Counter[str] = field(default_factory=Counter)
    """Deliveries by status code ("200", "503"...) or by transport error ("ConnectError")."""

    @property
    def sent(self) -> int:
        return sum(self.outcomes.values())

    @property
    def acknowledged(self) -> int:
        return sum(n for outcome, n in self.outcomes.items() if outcome.startswith("2"))

    def summary(self) -> str:
        shown = ", ".join(f"{outcome}: {n}" for outcome, n in sorted(self.outcomes.items()))
        return f"{self.sent} sent, {self.acknowledged} acknowledged (2xx)" + (f" [{shown}]" if shown else "")


def send(paths: Iterable[Path | str], url: str, secret: str, *, concurrency: int = 16,
         progress: bool = False) -> SendSummary:
    """POST every event in `paths` (files or folders, as `payops ingest replay` reads them) to `url`,
    at most `concurrency` at a time."""
    files = expand_paths(paths)  # a wrong path fails here, before anything is sent
    events = (event for path in files for event in read_file(path))  # read as sent: memory stays flat
    summary = SendSummary()

    async def sender(client: httpx.AsyncClient, bar: tqdm) -> None:
        # The tasks share one iterator; on a single event loop that is safe and keeps the order of the files.
        for _, payload in events:
            summary.outcomes[await post_event(client, url, secret, payload)] += 1
            bar.update()

    async def send_all() -> None:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(limits=limits, timeout=TIMEOUT_SECONDS) as client:
            with tqdm(desc="send", unit=" events", disable=not progress, mininterval=0.5) as bar:
                async with asyncio.TaskGroup() as group:
                    for _ in range(concurrency):
                        group.create_task(sender(client, bar))

    asyncio.run(send_all())
    return summary
