"""The Events API sync against a local Stripe-shaped server, through the real stripe SDK and a real warehouse."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from stripe_api_server import StripeEventsServer, stripe_events_server

from dagster_project.defs.ingest.stripe_sync import stripe_events_from_api, stripe_events_sync
from dagster_project.defs.resources import WarehouseResource
from ingest.stripe_sync import CURSOR_SOURCE, NO_KEY_MESSAGE, SyncInterrupted, read_cursor, sync_events
from payops.db import ready_engine
from payops.settings import Settings
from payops_cli.stripe_sync import stripe_events_command

API_KEY = "rk_test_payops_sync_5ecret_do_not_log"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
OVERLAP = timedelta(minutes=5)


def stripe_event(number: int, created: datetime) -> dict:
    """An event with the envelope of Stripe's own (stripe_fixtures/event.json)."""
    charge = {"id": f"ch_{number:05d}", "object": "charge", "amount": 1000 + number, "currency": "usd",
              "livemode": False, "status": "succeeded", "captured": True, "created": int(created.timestamp()),
              "metadata": {}}
    return {"id": f"evt_sync_{number:05d}", "object": "event", "api_version": "2026-07-29.dahlia",
            "created": int(created.timestamp()), "livemode": False, "pending_webhooks": 0,
            "request": {"id": None, "idempotency_key": None}, "type": "charge.succeeded",
            "data": {"object": charge}}


def events_between(first: int, count: int, start: datetime, step: timedelta) -> list[dict]:
    return [stripe_event(first + i, start + i * step) for i in range(count)]


@pytest.fixture()
def engine(module_warehouse: Settings) -> sa.Engine:
    eng = ready_engine(module_warehouse)
    with eng.begin() as conn:
        conn.execute(sa.text("truncate raw.stripe_events cascade"))
        conn.execute(sa.text("delete from ops.ingest_watermarks where source = :source"), {"source": CURSOR_SOURCE})
    return eng


@pytest.fixture()
def server() -> Iterator[StripeEventsServer]:
    with stripe_events_server(API_KEY) as running:
        yield running


@pytest.fixture()
def settings(module_warehouse: Settings, server: StripeEventsServer) -> Settings:
    return dataclasses.replace(module_warehouse, stripe_api_key=API_KEY, stripe_api_base=server.url)


def stored_ids(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text(
            "select event_id from raw.stripe_events join ops.webhook_event_log using (event_id)"
            " where source = 'events_api' order by event_id"
        )).scalars())


def created_gte(request) -> datetime:
    return datetime.fromtimestamp(int(request.params["created[gte]"]), UTC)


def test_a_first_sync_stores_every_event_across_pages_and_sets_the_cursor_to_the_newest(engine, server, settings):
    events = events_between(0, 250, NOW - timedelta(days=20), timedelta(minutes=90))
    server.add_events(*events)

    result = sync_events(settings, engine, page_size=100, now=NOW)

    assert (result.listed, result.loaded, result.duplicates, result.rejected) == (250, 250, 0, 0)
    assert stored_ids(engine) == sorted(e["id"] for e in events)
    newest = datetime.fromtimestamp(max(e["created"] for e in events), UTC)
    assert result.cursor_before is None
    assert result.cursor_after == read_cursor(engine) == newest
    requests = server.event_list_requests()
    assert len(requests) == 3
    assert created_gte(requests[0]) == NOW - timedelta(days=30)
    assert requests[0].params["limit"] == "100"
    assert [r.params.get("starting_after") for r in requests] == [None, "evt_sync_00150", "evt_sync_00050"]
    with engine.connect() as conn:
        payload = conn.execute(sa.text("select payload from raw.stripe_events where event_id = 'evt_sync_00007'"))
        assert payload.scalar() == events[7]


def test_a_second_sync_rereads_only_the_overlap_and_stores_only_new_events(engine, server, settings):
    cursor = NOW - timedelta(hours=1)
    old = events_between(0, 20, cursor - timedelta(minutes=19), timedelta(minutes=1))  # the last one at the cursor
    server.add_events(*old)
    sync_events(settings, engine, now=NOW)
    assert read_cursor(engine) == cursor
    new = events_between(100, 30, cursor + timedelta(seconds=1), timedelta(minutes=1))
    server.add_events(*new)
    server.requests.clear()

    result = sync_events(settings, engine, overlap=OVERLAP, page_size=10, now=NOW)

    assert created_gte(server.event_list_requests()[0]) == cursor - OVERLAP
    in_overlap = [e for e in old if e["created"] >= (cursor - OVERLAP).timestamp()]
    assert (result.listed, result.loaded, result.duplicates) == (len(new) + len(in_overlap), len(new), len(in_overlap))
    assert stored_ids(engine) == sorted(e["id"] for e in old + new)
    assert result.cursor_before == cursor
    assert result.cursor_after == read_cursor(engine) == datetime.fromtimestamp(new[-1]["created"], UTC)


def test_a_crash_mid_window_keeps_the_cursor_and_the_next_run_completes_the_set_once(engine, server, settings):
    old = events_between(0, 5, NOW - timedelta(days=3), timedelta(hours=1))
    server.add_events(*old)
    sync_events(settings, engine, now=NOW)
    cursor = read_cursor(engine)
    new = events_between(100, 120, cursor + timedelta(seconds=1), timedelta(minutes=3))
    server.add_events(*new)
    server.fail_after(2)

    with pytest.raises(SyncInterrupted, match="cursor stays at") as interrupted:
        sync_events(settings, engine, page_size=25, now=NOW)

    assert interrupted.value.partial.listed == 50
    assert read_cursor(engine) == cursor
    assert len(stored_ids(engine)) == len(old) + 50  # what was read before the failure is kept
    server.fail_after(None)

    result = sync_events(settings, engine, page_size=25, now=NOW)

    assert (result.loaded, result.duplicates) == (len(new) - 50, 50 + 1)  # the +1: the old event at the cursor
    assert stored_ids(engine) == sorted(e["id"] for e in old + new)
    assert read_cursor(engine) == datetime.fromtimestamp(new[-1]["created"], UTC)


def test_without_a_key_the_sync_is_skipped_with_a_clear_message(engine, server, module_warehouse, monkeypatch):
    result = sync_events(dataclasses.replace(module_warehouse, stripe_api_base=server.url), engine, now=NOW)

    assert result.skipped
    assert result.message == NO_KEY_MESSAGE == "STRIPE_API_KEY is not set: the Events API sync is skipped"
    assert server.requests == []
    monkeypatch.delenv("STRIPE_API_KEY", raising=False)
    cli = CliRunner().invoke(stripe_events_command, [])
    assert cli.exit_code == 0 and cli.output.strip() == NO_KEY_MESSAGE


def test_a_cursor_older_than_stripes_retention_warns_of_a_possible_gap(engine, server, settings, caplog):
    with engine.begin() as conn:
        conn.execute(sa.text("insert into ops.ingest_watermarks (source, watermark) values (:source, :watermark)"),
                     {"source": CURSOR_SOURCE, "watermark": NOW - timedelta(days=40)})
    server.add_events(*events_between(0, 3, NOW - timedelta(days=2), timedelta(hours=1)))

    with caplog.at_level(logging.WARNING, logger="ingest.stripe_sync"):
        result = sync_events(settings, engine, now=NOW)

    assert created_gte(server.event_list_requests()[0]) == NOW - timedelta(days=30)
    assert len(result.warnings) == 1 and "older than Stripe's 30-day event retention" in result.warnings[0]
    assert "may be lost for good" in caplog.text
    assert result.loaded == 3


def test_the_api_key_never_reaches_the_logs_or_the_output(engine, server, settings, caplog, monkeypatch):
    # The command syncs up to the real clock, so these events are recent by it.
    server.add_events(*events_between(0, 30, datetime.now(UTC) - timedelta(days=1), timedelta(minutes=10)))
    monkeypatch.setenv("STRIPE_API_KEY", API_KEY)
    monkeypatch.setenv("STRIPE_API_BASE", server.url)
    server.fail_after(1)

    with caplog.at_level(logging.DEBUG):
        with pytest.raises(SyncInterrupted):
            sync_events(settings, engine, page_size=10)
        server.fail_after(None)
        cli = CliRunner().invoke(stripe_events_command, ["--overlap-minutes", "5"])
        with pytest.raises(SyncInterrupted) as rejected:
            sync_events(dataclasses.replace(settings, stripe_api_key="rk_test_wrong_key_also_secret"), engine)

    assert cli.exit_code == 0, cli.output
    assert "new:           20" in cli.output and "duplicate:     10" in cli.output
    assert "Invalid API Key" in str(rejected.value)
    assert server.requests[0].authorization == f"Bearer {API_KEY}"  # the key was used, just never shown
    for text in (caplog.text, cli.output, str(rejected.value)):
        assert API_KEY not in text and "rk_test_wrong_key_also_secret" not in text


def test_the_dagster_asset_lands_events_and_its_schedule_runs_every_15_minutes(engine, server, module_warehouse,
                                                                               monkeypatch):
    server.add_events(*events_between(0, 4, datetime.now(UTC) - timedelta(hours=4), timedelta(hours=1)))
    monkeypatch.setenv("STRIPE_API_KEY", API_KEY)
    monkeypatch.setenv("STRIPE_API_BASE", server.url)

    run = dg.materialize([stripe_events_from_api],
                         resources={"warehouse": WarehouseResource(payops_home=str(module_warehouse.home))})

    assert run.success
    [materialization] = run.get_asset_materialization_events()
    assert materialization.asset_key == dg.AssetKey(["raw", "stripe_events_from_api"])
    assert materialization.materialization.metadata["loaded"].value == 4
    assert len(stored_ids(engine)) == 4
    assert stripe_events_sync.cron_schedule == "*/15 * * * *"
    assert stripe_events_sync.default_status == dg.DefaultScheduleStatus.RUNNING


def test_an_event_dated_in_the_future_is_stored_but_never_moves_the_cursor_past_now(engine, server, settings):
    events = [*events_between(0, 3, NOW - timedelta(hours=2), timedelta(minutes=10)),
              stripe_event(99, datetime(2036, 1, 1, tzinfo=UTC))]
    server.add_events(*events)

    result = sync_events(settings, engine, now=NOW)

    assert result.loaded == 4
    assert read_cursor(engine) == datetime.fromtimestamp(events[2]["created"], UTC)
