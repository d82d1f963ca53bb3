"""Reading Stripe event files, in plain Python: which events are refused and why, and where each event is
found in a file. (Storing them is tests/test_replay.py's, over a real Postgres.)"""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from ingest.stripe_events import InputNotFound, MalformedEvent, event_row, expand_paths, parse_event, read_file

pytestmark = pytest.mark.fast

EVENT = {"id": "evt_1", "object": "event", "type": "charge.succeeded", "api_version": "2026-07-29.dahlia",
         "created": 1_780_000_000, "livemode": False, "data": {"object": {"id": "ch_1", "object": "charge"}}}


def test_a_well_formed_event_gives_the_columns_it_is_indexed_by():
    assert event_row(EVENT) == ("evt_1", "charge.succeeded", "2026-07-29.dahlia", False,
                                datetime.fromtimestamp(1_780_000_000, UTC), "charge", "ch_1")


@pytest.mark.parametrize(("event", "reason"), [
    pytest.param(["not", "an", "object"], "not a JSON object", id="a list"),
    pytest.param(EVENT | {"object": "charge"}, "object is 'charge', not 'event'", id="not an event"),
    pytest.param(EVENT | {"id": ""}, "missing event id", id="no id"),
    pytest.param(EVENT | {"type": None}, "evt_1: missing type", id="no type"),
    pytest.param(EVENT | {"created": "2026-06-01"},
                 "evt_1: created is 2026-06-01, want a unix timestamp from 0 to 253402300799", id="created as text"),
    pytest.param(EVENT | {"created": True}, "evt_1: created is True, want a unix timestamp from 0 to 253402300799",
                 id="created as a boolean"),
    pytest.param(EVENT | {"livemode": "false"}, "evt_1: livemode is not a boolean", id="livemode as text"),
    pytest.param(EVENT | {"data": {"object": None}}, "evt_1: data.object is missing", id="no data.object"),
    pytest.param(EVENT | {"data": "ch_1"}, "evt_1: data.object is missing", id="data not an object"),
])
def test_a_malformed_event_is_refused_with_what_is_wrong(event, reason):
    with pytest.raises(MalformedEvent) as refused:
        event_row(event)
    assert str(refused.value) == reason


def test_parse_event_keeps_the_raw_text_and_refuses_what_postgres_cannot_store():
    raw = orjson.dumps(EVENT)
    assert parse_event(raw) == (*event_row(EVENT), raw.decode())
    with pytest.raises(MalformedEvent, match="contains a \\\\u0000 escape"):
        parse_event(raw.replace(b'"ch_1"', b'"ch_\\u0000"'))
    with pytest.raises(MalformedEvent, match="^invalid JSON: "):
        parse_event(b'{"id": "evt_1",')


def test_read_file_finds_each_event_in_json_lines_one_event_files_and_stripe_list_pages(tmp_path):
    second = EVENT | {"id": "evt_2"}
    (tmp_path / "events.jsonl").write_bytes(orjson.dumps(EVENT) + b"\n\n" + orjson.dumps(second) + b"\r\n")
    (tmp_path / "one.json").write_bytes(orjson.dumps(EVENT))
    (tmp_path / "page.json").write_bytes(orjson.dumps({"object": "list", "data": [EVENT, second],
                                                      "has_more": False}))
    (tmp_path / "broken.json").write_bytes(b"{not json")
    (tmp_path / "notes.txt").write_text("not an event file")

    found = {location.removeprefix(f"{tmp_path}/"): orjson.loads(raw) if raw != b"{not json" else raw
             for path in expand_paths([tmp_path]) for location, raw in read_file(path)}

    assert found == {"broken.json:1": b"{not json", "events.jsonl:1": EVENT, "events.jsonl:3": second,
                     "one.json:1": EVENT, "page.json:data[0]": EVENT, "page.json:data[1]": second}


def test_a_path_that_does_not_exist_is_named_before_anything_is_read(tmp_path):
    with pytest.raises(InputNotFound, match="nowhere.jsonl: no such file or directory"):
        expand_paths([tmp_path, tmp_path / "nowhere.jsonl"])
