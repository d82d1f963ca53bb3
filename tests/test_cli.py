"""The command line as a user meets it: help, bad input, an unreachable warehouse."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from payops.db import ready_engine
from payops.settings import Settings
from payops_cli.main import main

PAYOPS = [str(Path(sys.executable).parent / "payops")]


def stripe_event(event_id: str, created: int = 1_780_000_000) -> dict:
    charge = {"id": f"ch_{event_id}", "object": "charge", "amount": 1000, "currency": "usd", "livemode": False,
              "status": "succeeded", "captured": True, "created": created}
    return {"id": event_id, "object": "event", "api_version": "2026-07-29.dahlia", "created": created,
            "livemode": False, "pending_webhooks": 0, "request": {"id": None, "idempotency_key": None},
            "type": "charge.succeeded", "data": {"object": charge}}


@pytest.mark.fast
def test_help_lists_every_command_with_its_purpose():
    result = subprocess.run([*PAYOPS, "--help"], capture_output=True, text=True, check=True)
    listed = dict(re.findall(r"^  ([a-z-]+)\s{2,}(\S.*)$", result.stdout.split("Commands:")[1], re.MULTILINE))
    assert set(listed) == set(main.commands)
    for name, purpose in listed.items():
        assert not purpose.endswith("..."), f"{name}'s purpose is cut short: {purpose}"
    for group in ("db", "ingest"):
        sub = subprocess.run([*PAYOPS, group, "--help"], capture_output=True, text=True, check=True).stdout
        assert all(name in sub for name in main.commands[group].commands)


def test_replay_skips_malformed_lines_loads_the_rest_and_fails_with_a_summary(module_warehouse, tmp_path):
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join([
        json.dumps(stripe_event("evt_good_1")),
        "{this is not json",
        json.dumps(stripe_event("evt_good_2")),
        json.dumps(stripe_event("evt_good_1")),  # a duplicate delivery
        json.dumps({**stripe_event("evt_bad_created"), "created": "yesterday"}),
    ]) + "\n")
    single = tmp_path / "single.json"
    single.write_text(json.dumps(stripe_event("evt_single"), indent=2))

    result = CliRunner().invoke(main, ["ingest", "replay", "--quiet", str(events), str(single)])

    assert result.exit_code == 1
    assert f"rejected {events}:2: invalid JSON" in result.stderr
    assert f"rejected {events}:5: evt_bad_created: created is yesterday, want a unix timestamp" in result.stderr
    assert result.stdout.strip().endswith("2 file(s): 3 loaded, 1 duplicate, 2 rejected")
    engine = ready_engine(module_warehouse)
    with engine.connect() as conn:
        stored = set(conn.execute(sa.text("select event_id from raw.stripe_events")).scalars())
        logged = conn.execute(sa.text("select location from ops.rejected_records order by id")).scalars().all()
    assert {"evt_good_1", "evt_good_2", "evt_single"} <= stored
    assert logged[-2:] == [f"{events}:2", f"{events}:5"]

    again = CliRunner().invoke(main, ["ingest", "replay", "--quiet", str(single)])
    assert again.exit_code == 0 and again.stdout.strip() == "1 file(s): 0 loaded, 1 duplicate, 0 rejected"


def test_replay_names_a_missing_path(module_warehouse, tmp_path):
    result = CliRunner().invoke(main, ["ingest", "replay", str(tmp_path / "nowhere")])
    assert result.exit_code == 1
    assert f"{tmp_path / 'nowhere'}: no such file or directory" in result.stderr


@pytest.mark.fast
def test_an_unreachable_warehouse_gives_a_clear_error_with_the_password_masked(monkeypatch):
    monkeypatch.setenv("WAREHOUSE_URL", "postgresql://payops:hunter2@127.0.0.1:9/warehouse")
    result = subprocess.run([*PAYOPS, "ingest", "replay", "whatever.jsonl"], capture_output=True, text=True)
    assert result.returncode == 1
    assert "Cannot reach the warehouse at postgresql+psycopg://payops:***@127.0.0.1:9/warehouse" in result.stderr
    assert "hunter2" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_ingest_app_says_what_to_do_when_the_platform_tables_are_missing(module_warehouse):
    result = CliRunner().invoke(main, ["ingest", "app"])
    assert result.exit_code == 1
    assert "run `payops demo-data`" in result.stderr


@pytest.mark.fast
def test_a_bad_time_zone_is_named(monkeypatch):
    monkeypatch.setenv("PAYOPS_TIMEZONE", "Mars/Olympus")
    result = CliRunner().invoke(main, ["db", "url"])
    assert result.exit_code == 1
    assert "PAYOPS_TIMEZONE='Mars/Olympus' is not an IANA time zone" in result.stderr


@pytest.mark.parametrize("command", [["db", "start"], ["db", "url"]])
def test_db_commands_report_the_embedded_warehouse(module_warehouse, command):
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 0, result.output
    assert str(module_warehouse.pgdata) in result.stdout.replace("%2F", "/")


def test_warehouse_url_replaces_the_embedded_postgres(module_warehouse, tmp_path, monkeypatch):
    """Any Postgres named by WAREHOUSE_URL is used as is: nothing is started under PAYOPS_HOME."""
    url = ready_engine(module_warehouse).url.render_as_string(hide_password=False).replace("+psycopg", "")
    other_home = tmp_path / "elsewhere"
    monkeypatch.setenv("PAYOPS_HOME", str(other_home))
    monkeypatch.setenv("WAREHOUSE_URL", url)
    events = tmp_path / "one.json"
    events.write_text(json.dumps(stripe_event("evt_via_url")))

    result = CliRunner().invoke(main, ["ingest", "replay", "--quiet", str(events)])

    assert result.exit_code == 0, result.output
    assert not (other_home / "pgdata").exists()
    with ready_engine(module_warehouse).connect() as conn:
        assert conn.execute(sa.text("select source from raw.stripe_events where event_id = 'evt_via_url'")).scalar()
    stop = CliRunner().invoke(main, ["db", "stop"])
    assert stop.exit_code == 1 and "WAREHOUSE_URL is set" in stop.stderr


def test_demo_data_then_ingest_app_copies_each_platform_row_once_and_then_only_what_changed(module_warehouse,
                                                                                             tmp_path):
    generated = CliRunner().invoke(main, ["demo-data", "--days", "3", "--students", "4", "--seed", "3",
                                          "--end", "2026-06-30", "--out", str(tmp_path / "events")])
    assert generated.exit_code == 0, generated.output
    app_rows = {table: int(n) for table, n in re.findall(r"^  app\.(\w+): (\d+) rows$", generated.stdout, re.M)}
    assert app_rows["students"] > 0 and app_rows["purchase_transactions"] > 0
    copied = re.compile(r"^(\w+): (\d+) changed of (\d+) read", re.M)

    first = CliRunner().invoke(main, ["ingest", "app"])
    second = CliRunner().invoke(main, ["ingest", "app"])

    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    assert {table: int(changed) for table, changed, _ in copied.findall(first.stdout)} == app_rows
    assert {table: int(changed) for table, changed, _ in copied.findall(second.stdout)} == dict.fromkeys(app_rows, 0)


@pytest.mark.fast
def test_the_demo_webhook_secret_is_made_once_and_kept_private(tmp_path, monkeypatch):
    from payops_cli.main import DEMO_SECRET_FILE, _demo_webhook_secret

    monkeypatch.setenv("PAYOPS_HOME", str(tmp_path))
    settings = Settings.from_env()

    secret = _demo_webhook_secret(settings)

    assert secret.startswith("whsec_") and len(secret) > 30
    assert _demo_webhook_secret(settings) == secret
    assert (tmp_path / DEMO_SECRET_FILE).stat().st_mode & 0o777 == 0o600
@pytest.mark.parametrize(("args", "message"), [
    (["--days", "0"], "Invalid value for '--days': 0 is not in the range 1<=x<=3660."),
    (["--students", "-1"], "Invalid value for '--students': -1 is not in the range"),
    (["--end", "9999-12-31"], "Invalid value for '--end': 9999-12-31 is outside 2000-01-01"),
])
def test_demo_data_numbers_and_dates_are_checked_by_the_command_line(args, message):
    result = CliRunner().invoke(main, ["demo-data", *args])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(("url", "message"), [
    ("mysql://user:s3cret@db/payops", "WAREHOUSE_URL uses mysql://, which payops does not support"),
    ("postgresql://user:s3cret@db:99999999/payops", "WAREHOUSE_URL is not a database URL"),
    ("::not a url::", "WAREHOUSE_URL is not a database URL"),
])
def test_an_unsupported_or_malformed_warehouse_url_is_one_line_naming_the_setting(monkeypatch, url, message):
    monkeypatch.setenv("WAREHOUSE_URL", url)
    result = subprocess.run([*PAYOPS, "db", "url"], capture_output=True, text=True)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {message}"), result.stderr
    assert "s3cret" not in result.stderr


def test_a_failed_demo_data_run_leaves_the_earlier_files_as_they_were(module_warehouse, tmp_path, monkeypatch):
    from demo.generate import generate_demo_data

    out = tmp_path / "landing"
    generate_demo_data(module_warehouse, days=2, students=2, seed=1, out_dir=out, write_app=False, progress=False)
    before = {path.name: path.read_bytes() for path in out.iterdir()}

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("demo.generate.publish", broken)
    with pytest.raises(OSError, match="disk full"):
        generate_demo_data(module_warehouse, days=3, students=3, seed=2, out_dir=out, write_app=False,
                           progress=False)
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before
    assert before
