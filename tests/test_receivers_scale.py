"""Receivers scale out: two `payops webhooks serve` processes on two ports, one warehouse. Their idempotency lives
in the database (the primary key), so the same event sent to both is stored once whoever commits first; and a
month is archived while they keep storing."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import h11
import httpx
import orjson
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from ingest.partitions import archive_before
from ingest.processing import process_pending
from ingest.stripe_events import load_events
from ingest.webhook_sender import signed_headers
from payops.db import ready_engine
from payops.settings import Settings

SECRET = "whsec_scale_test_0123456789"
EVENTS = 5_000
CONNECTIONS = 16
"""Senders, each with a connection to each receiver: 16 deliveries in flight."""
PAYOPS = Path(sys.executable).with_name("payops")


def stripe_event(event_id: str, created: int) -> bytes:
    charge = {"id": f"ch_{event_id}", "object": "charge", "amount": 700, "currency": "eur", "livemode": False,
              "status": "succeeded", "captured": True, "created": created}
    return orjson.dumps({"id": event_id, "object": "event", "api_version": "2026-07-29.dahlia", "created": created,
                         "livemode": False, "type": "charge.succeeded", "data": {"object": charge}})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def receivers(module_warehouse: Settings) -> Iterator[list[str]]:
    """Two receiver processes (uvicorn, one worker each) on two ports of this machine, on the module's warehouse."""
    ready_engine(module_warehouse)  # migrated once here, not raced by the two
    env = {**os.environ, "STRIPE_WEBHOOK_SECRET": SECRET}
    ports = [free_port(), free_port()]
    processes = [subprocess.Popen([PAYOPS, "webhooks", "serve", "--port", str(port)], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for port in ports]
    try:
        for process, port in zip(processes, ports, strict=True):
            deadline = time.monotonic() + 60
            while True:
                assert process.poll() is None, process.stderr.read().decode()[-2000:]
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "a receiver did not start within 60 s"
                time.sleep(0.2)
        yield [f"http://127.0.0.1:{port}" for port in ports]
    finally:
        for process in processes:
            process.terminate()
            process.wait(20)


class KeepAlive:
    """One keep-alive HTTP/1.1 connection parsed by h11: httpx's pool costs more CPU per request than a receiver
    on these 2 cores, and the test would time its client (bench/webhook_bench.py found the same)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, netloc: str):
        self.reader, self.writer, self.netloc = reader, writer, netloc
        self.protocol = h11.Connection(h11.CLIENT)

    @classmethod
    async def to(cls, base: str) -> KeepAlive:
        host, port = base.removeprefix("http://").split(":")
        return cls(*await asyncio.open_connection(host, int(port)), f"{host}:{port}")

    async def post(self, body: bytes) -> tuple[int, dict]:
        headers = [("Host", self.netloc), ("Content-Length", str(len(body))),
                   *signed_headers(body, SECRET).items()]
        self.writer.write(self.protocol.send(h11.Request(method="POST", target="/webhooks/stripe", headers=headers))
                          + self.protocol.send(h11.Data(data=body)) + self.protocol.send(h11.EndOfMessage()))
        status, answer = 0, b""
        while not isinstance(event := self.protocol.next_event(), h11.EndOfMessage):
            if event is h11.NEED_DATA:
                self.protocol.receive_data(await self.reader.read(65536))
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                answer += event.data
        self.protocol.start_next_cycle()
        return status, orjson.loads(answer)


async def deliver(deliveries: list[tuple[str, bytes]], answered: list | None = None) -> list[tuple[int, dict]]:
    """POST each (receiver, body) signed, on CONNECTIONS connections to each receiver, in the given order; the
    (status, JSON answer) of each. `answered` gets the monotonic time of every answer as it comes."""
    results: list[tuple[int, dict]] = [(0, {})] * len(deliveries)
    pending = iter(range(len(deliveries)))

    async def sender(connections: dict[str, KeepAlive]) -> None:
        for index in pending:  # one iterator shared by every sender: each delivery is sent once, in order
            base, body = deliveries[index]
            results[index] = await connections[base].post(body)
            if answered is not None:
                answered.append(time.monotonic())
        for connection in connections.values():
            connection.writer.close()

    bases = sorted({base for base, _ in deliveries})
    senders = [{base: await KeepAlive.to(base) for base in bases} for _ in range(CONNECTIONS)]
    await asyncio.gather(*(sender(connections) for connections in senders))
    return results


def test_the_same_5000_deliveries_sent_to_two_receivers_interleaved_are_each_stored_once(
        receivers: list[str], module_warehouse: Settings):
    created = int(time.time())
    bodies = {f"evt_twice_{n:05d}": stripe_event(f"evt_twice_{n:05d}", created - n) for n in range(EVENTS)}
    # Each event goes to both receivers back to back, which one first alternating, with 16 deliveries in flight:
    # the two copies of an event are often in the two processes at the same moment.
    deliveries = []
    for n, body in enumerate(bodies.values()):
        first, second = receivers if n % 2 == 0 else receivers[::-1]
        deliveries += [(first, body), (second, body)]
    results = asyncio.run(deliver(deliveries))

    answers_by_event: dict[str, Counter[str]] = {}
    for (status, answer), (_, body) in zip(results, deliveries, strict=True):
        assert status == 200, answer
        answers_by_event.setdefault(orjson.loads(body)["id"], Counter())[answer["status"]] += 1
    # Exactly one of the two receivers stored each event; the other saw it committed and called it a duplicate.
    assert set(answers_by_event) == set(bodies)
    assert {tuple(sorted(counts.items())) for counts in answers_by_event.values()} == {(("duplicate", 1),
                                                                                        ("stored", 1))}
    with ready_engine(module_warehouse).connect() as conn:
        stored = conn.execute(sa.text(
            "select event_id, count(*) from raw.stripe_events where event_id like 'evt_twice_%' group by 1")).all()
        logged = conn.execute(sa.text(
            "select count(*), count(distinct event_id) from ops.webhook_event_log where event_id like 'evt_twice_%'"
        )).one()
    assert dict(stored) == dict.fromkeys(bodies, 1)
    assert tuple(logged) == (EVENTS, EVENTS)
    counters = [httpx.get(f"{base}/healthz").json() for base in receivers]
    assert sum(c["accepted"] for c in counters) == EVENTS and sum(c["duplicates"] for c in counters) == EVENTS
    assert all(c["accepted"] > 0 for c in counters), "one receiver stored everything: they did not race"


def test_an_old_month_is_archived_while_both_receivers_keep_storing(receivers: list[str], module_warehouse: Settings,
                                                                    tmp_path):
    engine = ready_engine(module_warehouse)
    january = int(datetime(2026, 1, 15, tzinfo=UTC).timestamp())
    old = {f"evt_old_{n:04d}": stripe_event(f"evt_old_{n:04d}", january + n) for n in range(500)}
    assert load_events(engine, list(old.items()), source="replay").loaded == len(old)
    process_pending(engine)

    now = int(time.time())
    live = [(receivers[n % 2], stripe_event(f"evt_live_{n:05d}", now - n)) for n in range(3_000)]
    answered: list[float] = []
    outcome: dict[str, list] = {}
    sender = threading.Thread(target=lambda: outcome.setdefault("results", asyncio.run(deliver(live, answered))))
    sender.start()
    while len(answered) < 300:
        assert sender.is_alive()
        time.sleep(0.01)
    started = time.monotonic()
    archived = archive_before(engine, date(2026, 2, 1), tmp_path)
    finished = time.monotonic()
    sender.join(120)

    assert [(a.month, a.events) for a in archived] == [(date(2026, 1, 1), len(old))]
    assert sorted(pq.read_table(archived[0].events_path, columns=["event_id"])["event_id"].to_pylist()) == sorted(old)
    assert {status for status, _ in outcome["results"]} == {200}
    assert any(started <= at <= finished for at in answered), "no delivery was answered while the archive ran"
    with engine.connect() as conn:
        stored = conn.execute(sa.text("select count(*) from raw.stripe_events where event_id like 'evt_live_%'"))
        assert stored.scalar() == len(live)
        left = conn.execute(sa.text("select count(*) from raw.stripe_events where event_id like 'evt_old_%'"))
        assert left.scalar() == 0
