"""The balance transactions sync against the local Stripe-shaped server, through the real stripe SDK and a real
warehouse, fed with what the demo generator wrote; and payout events through processing."""

from __future__ import annotations

import dataclasses
import logging
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import orjson
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from stripe_api_server import StripeEventsServer, stripe_events_server

from dagster_project.defs.finance.balance import stripe_balance_sync_schedule
from demo.generate import generate_demo_data
from ingest.processing import process_pending
from ingest.stripe_balance import (
    CURSOR_SOURCE,
    ITEMIZATION_FILE,
    NO_KEY_MESSAGE,
    TRANSACTIONS_FILE,
    BalanceSyncInterrupted,
    sync_balance,
)
from ingest.stripe_events import load_events, replay
from ingest.stripe_sync import read_cursor
from payops.db import ready_engine
from payops.settings import Settings
from payops_cli.stripe_balance import stripe_balance_command

API_KEY = "rk_live_payops_balance_5ecret"
OVERLAP = timedelta(minutes=5)


@dataclasses.dataclass(frozen=True)
class Generated:
    transactions: list[dict]
    carried: dict[str, list[str]]
    """payout id -> the transaction ids it carried (the generator's own record)"""
    events_dir: Path


@pytest.fixture(scope="module")
def generated(module_warehouse: Settings, tmp_path_factory: pytest.TempPathFactory) -> Generated:
    folder = tmp_path_factory.mktemp("balance")
    generate_demo_data(module_warehouse, days=21, students=24, seed=5, end=date(2026, 6, 30), progress=False,
                       write_app=False, out_dir=folder / "events", balance_dir=folder)
    carried: dict[str, list[str]] = defaultdict(list)
    for line in (folder / ITEMIZATION_FILE).read_bytes().splitlines():
        item = orjson.loads(line)
        carried[item["payout"]].append(item["balance_transaction"])
    transactions = [orjson.loads(line) for line in (folder / TRANSACTIONS_FILE).read_bytes().splitlines()]
    return Generated(transactions, dict(carried), folder / "events")


@pytest.fixture()
def engine(module_warehouse: Settings) -> sa.Engine:
    eng = ready_engine(module_warehouse)
    with eng.begin() as conn:
        conn.execute(sa.text("truncate raw.stripe_api_balance_transactions, raw.stripe_payout_balance_transactions,"
                             " raw.stripe_payouts, raw.stripe_events cascade"))
        conn.execute(sa.text("delete from ops.ingest_watermarks where source = :source"), {"source": CURSOR_SOURCE})
    return eng


@pytest.fixture()
def server(generated: Generated) -> Iterator[StripeEventsServer]:
    with stripe_events_server(API_KEY) as running:
        running.add_balance_transactions(*generated.transactions)
        for payout_id, carried in generated.carried.items():
            own = next(t for t in generated.transactions if t["type"] == "payout" and t["source"] == payout_id)
            running.add_payout({"id": payout_id, "object": "payout", "created": own["created"]},
                               carried)
        yield running


@pytest.fixture()
def settings(module_warehouse: Settings, server: StripeEventsServer) -> Settings:
    return dataclasses.replace(module_warehouse, stripe_api_key=API_KEY, stripe_api_base=server.url)


def stored(engine: sa.Engine) -> dict[str, dict]:
    with engine.connect() as conn:
        return dict(conn.execute(sa.text("select id, object from raw.stripe_api_balance_transactions")).all())


def newest_created(transactions: list[dict]) -> datetime:
    return datetime.fromtimestamp(max(t["created"] for t in transactions), UTC)


def test_a_first_sync_stores_every_transaction_once_and_sets_the_cursor_to_the_newest(
    engine, server, settings, generated
):
    result = sync_balance(settings, engine, page_size=25)

    assert stored(engine) == {t["id"]: t for t in generated.transactions}
    assert (result.listed, result.new, result.changed) == (len(generated.transactions), len(generated.transactions), 0)
    assert read_cursor(engine, CURSOR_SOURCE) == newest_created(generated.transactions)
    first = server.list_requests("/v1/balance_transactions")[0]
    assert "created[gte]" not in first.params  # Stripe keeps balance transactions for good: read them all
    assert first.params["limit"] == "25"


def test_a_second_sync_rereads_only_the_overlap_and_finds_nothing_new(engine, server, settings, generated):
    sync_balance(settings, engine, page_size=25)
    cursor = read_cursor(engine, CURSOR_SOURCE)
    in_overlap = [t for t in generated.transactions if t["created"] >= (cursor - OVERLAP).timestamp()]

    again = sync_balance(settings, engine, page_size=25, overlap=OVERLAP)

    listing = [r for r in server.list_requests("/v1/balance_transactions") if "payout" not in r.params][-1]
    assert datetime.fromtimestamp(int(listing.params["created[gte]"]), UTC) == cursor - OVERLAP
    assert (again.listed, again.new, again.changed) == (len(in_overlap), 0, 0)
    assert again.payouts_itemized == 0  # every ended payout was itemized by the first run
    assert len(stored(engine)) == len(generated.transactions)


def test_a_crash_mid_window_keeps_the_cursor_and_the_resumed_run_completes_the_set_once(
    engine, server, settings, generated
):
    server.fail_after(3)
    with pytest.raises(BalanceSyncInterrupted, match="cursor stays at none"):
        sync_balance(settings, engine, page_size=10)
    assert read_cursor(engine, CURSOR_SOURCE) is None

    server.fail_after(None)
    resumed = sync_balance(settings, engine, page_size=10)

    assert stored(engine) == {t["id"]: t for t in generated.transactions}
    assert resumed.listed == len(generated.transactions)
    assert read_cursor(engine, CURSOR_SOURCE) == newest_created(generated.transactions)


def test_each_ended_automatic_payout_is_itemized_and_its_net_equals_its_amount(engine, server, settings, generated):
    replay(engine, [generated.events_dir])
    process_pending(engine)

    result = sync_balance(settings, engine, page_size=50)

    with engine.connect() as conn:
        itemized = defaultdict(set)
        for payout_id, txn_id in conn.execute(sa.text(
            "select payout_id, balance_transaction_id from raw.stripe_payout_balance_transactions"
        )):
            itemized[payout_id].add(txn_id)
        payouts = dict(conn.execute(sa.text("select id, object from raw.stripe_payouts")).all())
    assert itemized == {payout_id: set(txns) for payout_id, txns in generated.carried.items()}
    assert result.payouts_itemized == len(generated.carried)
    asked = {r.params["payout"] for r in server.list_requests("/v1/balance_transactions") if "payout" in r.params}
    assert asked == {p for p, obj in payouts.items() if obj["status"] in ("paid", "failed")}
    # Conservation: what a paid payout carried nets to what reached the bank.
    net = {t["id"]: t["net"] for t in generated.transactions}
    paid = {p: obj for p, obj in payouts.items() if obj["status"] == "paid"}
    assert paid and all(sum(net[t] for t in itemized[p]) == obj["amount"] for p, obj in paid.items())
    assert sum(obj["status"] == "failed" for obj in payouts.values()) == 1


def test_without_a_key_the_sync_is_skipped_and_the_schedule_launches_no_run(engine, module_warehouse, monkeypatch):
    assert sync_balance(dataclasses.replace(module_warehouse, stripe_api_key=None), engine).skipped
    monkeypatch.delenv("STRIPE_API_KEY", raising=False)
    tick = stripe_balance_sync_schedule(dg.build_schedule_context())
    assert isinstance(tick, dg.SkipReason) and tick.skip_message == NO_KEY_MESSAGE
    monkeypatch.setenv("STRIPE_API_KEY", API_KEY)
    assert isinstance(stripe_balance_sync_schedule(dg.build_schedule_context()), dg.RunRequest)


def payout_event(event_id: str, created: int, status: str) -> tuple[str, bytes]:
    payout = {"id": "po_out_of_order", "object": "payout", "amount": 5000, "currency": "usd", "automatic": True,
              "status": status, "created": 1_780_000_000, "arrival_date": 1_780_172_800, "livemode": True,
              "reconciliation_status": "in_progress"}
    event = {"id": event_id, "object": "event", "api_version": "2026-07-29.dahlia", "created": created,
             "livemode": True, "pending_webhooks": 1, "request": {"id": None, "idempotency_key": None},
             "type": f"payout.{'created' if status == 'pending' else status}", "data": {"object": payout}}
    return event_id, orjson.dumps(event)


def test_out_of_order_payout_events_end_in_the_newest_state(engine):
    load_events(engine, [payout_event("evt_paid", 1_780_200_000, "paid")], source="webhook")
    process_pending(engine)
    load_events(engine, [payout_event("evt_created", 1_780_000_000, "pending"),
                         payout_event("evt_in_transit", 1_780_020_000, "in_transit")], source="webhook")
    process_pending(engine)
    with engine.connect() as conn:
        status, last_event = conn.execute(sa.text(
            "select object ->> 'status', last_event_id from raw.stripe_payouts where id = 'po_out_of_order'"
        )).one()
    assert (status, last_event) == ("paid", "evt_paid")


def test_the_command_syncs_says_what_it_did_and_never_shows_the_key(engine, server, generated, monkeypatch, caplog):
    monkeypatch.setenv("STRIPE_API_KEY", API_KEY)
    monkeypatch.setenv("STRIPE_API_BASE", server.url)
    server.fail_after(0)
    with caplog.at_level(logging.DEBUG):
        interrupted = CliRunner().invoke(stripe_balance_command, [])
        server.fail_after(None)
        done = CliRunner().invoke(stripe_balance_command, ["--overlap-minutes", "10"])

    assert interrupted.exit_code == 1 and "cursor stays at none" in interrupted.output
    assert done.exit_code == 0, done.output
    total = len(generated.transactions)
    assert f"{total} balance transaction(s) listed since none: {total} new, 0 changed" in done.output
    for text in (caplog.text, interrupted.output, done.output):
        assert API_KEY not in text
