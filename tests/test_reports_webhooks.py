"""The webhook reliability report's figures per event type: failures, retries, held-back events and the gaps the
Events API sync filled, rendered from a warehouse seeded with events of every source and processing outcome, and
checked against the same figures counted here in plain Python from the seeded rows.

The seeded month straddles its borders in the reporting time zone (events stored late on May 31 and June 30 there,
already June 1 and July 1 in UTC), and the marts are built twice: once, then incrementally after some events' retries
settle, as processing would leave them."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import nbformat
import pytest
import sqlalchemy as sa
from conftest import dbt, embedded_warehouse

from payops.reports import render

TIMEZONE = "America/Sao_Paulo"
PERIOD = "2026-06"
EVENT_TYPES = ("charge.succeeded", "charge.failed", "charge.refunded", "payment_intent.succeeded",
               "charge.dispute.created")
SEEDED_EVENTS = 400
SETTLED_RETRIES = 12
"""Of the events waiting for a retry after the first build, this many settle before the second: half processed,
half failed for good."""

INSERT_EVENT = sa.text("""
insert into raw.stripe_events (event_id, event_type, livemode, created_at, payload, received_at, source)
values (:event_id, :event_type, true, :created_at, '{}', :received_at, :source)
""")
INSERT_LOG = sa.text("""
insert into ops.webhook_event_log (event_id, status, received_at, retry_count, error_message)
values (:event_id, :status, :received_at, :retry_count, :error_message)
""")
SETTLE = sa.text("""
update ops.webhook_event_log set status = :status, retry_count = :retry_count, error_message = :error_message
where event_id = :event_id
""")


def seeded_events() -> list[dict]:
    """Events stored from May 30 to July 2 (UTC), from every source, with every processing outcome; plus four
    stored on either side of the month's borders in the reporting time zone."""
    generator = random.Random(15)
    start = datetime(2026, 5, 30, tzinfo=UTC)
    events = []
    for number in range(SEEDED_EVENTS):
        received_at = start + timedelta(seconds=generator.randrange(33 * 24 * 3600))
        status = generator.choices(["processed", "failed", "retrying"], weights=[80, 10, 10])[0]
        # A retrying event's count is 0 when `payops webhooks retry` gave it a fresh budget.
        retry_count = {"processed": generator.choice([0, 0, 0, 1, 2]), "failed": generator.randint(1, 5),
                       "retrying": generator.randint(0, 4)}[status]
        events.append({"event_id": f"evt_{number:04}", "event_type": generator.choice(EVENT_TYPES),
                       "source": generator.choices(["webhook", "events_api", "replay"], weights=[70, 15, 15])[0],
                       "status": status, "retry_count": retry_count, "received_at": received_at})
    sao_paulo = ZoneInfo(TIMEZONE)
    for number, local in enumerate((datetime(2026, 5, 31, 23, 30), datetime(2026, 6, 1, 0, 30),
                                    datetime(2026, 6, 30, 23, 30), datetime(2026, 7, 1, 0, 30))):
        events.append({"event_id": f"evt_border_{number}", "event_type": "charge.succeeded", "source": "events_api",
                       "status": "failed", "retry_count": 1, "received_at": local.replace(tzinfo=sao_paulo)})
    for event in events:
        event["created_at"] = event["received_at"] - timedelta(seconds=30)
        event["error_message"] = None if event["status"] == "processed" and not event["retry_count"] else "boom"
    return events


def settle_retries(events: list[dict]) -> list[dict]:
    """The first SETTLED_RETRIES events waiting for a retry: processed or failed for good after one more attempt."""
    settled = []
    for number, event in enumerate([e for e in events if e["status"] == "retrying"][:SETTLED_RETRIES]):
        succeeded = number % 2 == 0
        event.update(status="processed" if succeeded else "failed",
                     retry_count=event["retry_count"] + (0 if succeeded else 1),
                     error_message=None if succeeded else "boom again")
        settled.append(event)
    return settled


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[dict], object]]:
    """The seeded warehouse's marts built, built again after retries settled, and June's report rendered."""
    from payops.db import ready_engine

    home = tmp_path_factory.mktemp("webhook-report")
    events = seeded_events()
    with embedded_warehouse(home, PAYOPS_TIMEZONE=TIMEZONE) as settings:
        engine = ready_engine(settings)
        with engine.begin() as conn:
            conn.execute(INSERT_EVENT, events)
            conn.execute(INSERT_LOG, events)
        select = ("--select", "+webhook_health", "+webhook_events_by_type", "+held_back_events")
        dbt(settings, home / "dbt", "run", *select)
        with engine.begin() as conn:
            conn.execute(SETTLE, settle_retries(events))
        dbt(settings, home / "dbt", "run", *select)
        yield events, render(settings, "webhook_reliability", PERIOD)


def in_june(event: dict) -> bool:
    return f"{event['received_at'].astimezone(ZoneInfo(TIMEZONE)):%Y-%m}" == PERIOD


def by_type(events: list[dict], counted) -> dict[str, int]:
    return dict(Counter(event["event_type"] for event in events if counted(event)))


def test_failures_and_retries_per_type_equal_the_seeded_events(rendered):
    events, report = rendered
    june = [event for event in events if in_june(event)]
    figures = report.figures
    assert figures["events_received"] == len(june)
    assert figures["failed_by_type"] == by_type(june, lambda e: e["status"] == "failed")
    assert figures["retrying_by_type"] == by_type(june, lambda e: e["status"] == "retrying")
    assert figures["retried_by_type"] == by_type(june, lambda e: e["retry_count"] > 0)
    attempts: Counter = Counter()
    for event in june:
        attempts[event["event_type"]] += event["retry_count"]
    assert figures["failed_attempts_by_type"] == dict(+attempts)
    assert sum(figures["failed_by_type"].values()) == figures["events_failed"], "the types add up to the month"


def test_held_back_events_and_the_gaps_the_sync_filled_equal_the_seeded_events(rendered):
    events, report = rendered
    june = [event for event in events if in_june(event)]
    figures = report.figures
    assert figures["held_back_events"] == sum(event["status"] == "failed" for event in june)
    synced = by_type(june, lambda e: e["source"] == "events_api")
    assert figures["api_synced_by_type"] == synced
    assert figures["api_synced"] == sum(synced.values())
    # Of the four events stored at the month's borders in São Paulo, the two stored in June there count.
    assert {e["event_id"] for e in june if e["event_id"].startswith("evt_border")} == {"evt_border_1", "evt_border_2"}


def test_the_report_shows_them_with_their_charts_and_no_error(rendered):
    _, report = rendered
    executed = nbformat.read(report.notebook, as_version=4)
    outputs = [output for cell in executed.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error" or o.get("name") == "stderr"]
    html = report.html.read_text()
    # lag and volume per day, failing events by type, events first stored by the sync per day
    assert html.count('src="data:image/png;base64,') == 4
    assert "Gaps the Events API sync filled" in html and "Not in the marts yet" not in html
