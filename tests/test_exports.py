"""Compliance exports on the session's pipeline warehouse: complete (totals equal figures computed from the event
files), reproducible to the byte across processes, verifiable, and holding no personal data unless asked."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from conftest import TIMEZONE, environment
from oracle import read_events
from oracle_finance import expected_balance_change_from_activity, expected_fct_payouts, read_balance
from oracle_marts import Reporting, expected_fct_charges, expected_fct_disputes, expected_fct_refunds

from exports.compliance import MANIFEST, ExportError, ExportRequest, run_export, verify_export
from exports.datasets import CHARGES, DATASETS
from payops.settings import Settings
from payops_cli.main import main

KEY = "test-export-key-0123456789abcdef"
START, END = date(2026, 6, 1), date(2026, 6, 30)
PAYOPS = str(Path(sys.executable).parent / "payops")


def export(pipeline, out: Path, **options) -> dict:
    request = ExportRequest(start=START, end=END, out_dir=out, requested_by="test", **options)
    return run_export(pipeline.engine, request, timezone=TIMEZONE, key=KEY).manifest


@pytest.fixture(scope="module")
def exported(pipeline, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("export") / "2026-06"
    return out, export(pipeline, out)


@pytest.fixture(scope="module")
def events(pipeline) -> list[dict]:
    return read_events([pipeline.demo.out_dir])


def per_currency(rows) -> dict[str, dict[str, int]]:
    totals: dict[str, dict[str, int]] = {}
    for currency, amount in rows:
        figures = totals.setdefault(currency, {"rows": 0, "amount_minor": 0})
        figures["rows"] += 1
        figures["amount_minor"] += amount
    return totals


def test_manifest_totals_equal_the_figures_of_the_event_files(pipeline, exported, events):
    _, manifest = exported
    reporting = Reporting(TIMEZONE)
    files = manifest["signed"]["files"]
    in_period = range(START.toordinal(), END.toordinal() + 1)

    charges = [(c["currency"], c["amount_minor"]) for c in expected_fct_charges(events, TIMEZONE).values()
               if c["created_day"].toordinal() in in_period]
    refunds = [(currency, amount)
               for (_, _, day, currency, amount, _), n in expected_fct_refunds(events, TIMEZONE).items()
               for _ in range(n) if day.toordinal() in in_period]
    disputes = [(d["currency"], d["amount_minor"]) for d in expected_fct_disputes(events, TIMEZONE).values()
                if d["created_day"].toordinal() in in_period]
    assert charges and refunds and disputes, "the seeded month must exercise every dataset"

    balance = read_balance(pipeline.settings.stripe_balance_landing_dir)
    created = {txn["id"]: txn["created"] for txn in balance.listed}
    payouts = [(p["currency"], p["amount_minor"]) for p in expected_fct_payouts(events, balance).values()
               if reporting.day(int(p["created_at"].timestamp())).toordinal() in in_period]
    activity: dict[str, dict[str, int | str]] = {}
    for txn_id, row in expected_balance_change_from_activity(events, balance).items():
        if reporting.day(created[txn_id]).toordinal() in in_period:
            figures = activity.setdefault(row["currency"], {"rows": 0, "net": Decimal(0)})
            figures["rows"] += 1
            figures["net"] += row["net"]
    assert payouts and activity, "the seeded month must exercise the finance datasets"

    for name, expected in [("charges", charges), ("refunds", refunds), ("disputes", disputes), ("payouts", payouts)]:
        for suffix in ("csv", "parquet"):
            assert files[f"{name}.{suffix}"]["totals"] == per_currency(expected), f"{name}.{suffix}"
            assert files[f"{name}.{suffix}"]["rows"] == len(expected)
    assert files["balance_change_from_activity.csv"]["totals"] == {
        currency: {"rows": figures["rows"], "net": format(figures["net"].normalize(), "f")}
        for currency, figures in activity.items()}


def test_csv_and_parquet_hold_the_same_rows_in_the_documented_order(exported):
    out, manifest = exported
    for dataset in DATASETS:
        lines = (out / f"{dataset.name}.csv").read_text(encoding="utf-8").splitlines()
        table = pq.read_table(out / f"{dataset.name}.parquet")
        assert lines[0].split(",") == dataset.column_names == table.column_names
        assert len(lines) - 1 == table.num_rows == manifest["signed"]["files"][f"{dataset.name}.csv"]["rows"]
        assert table.schema.metadata is None, "no pandas or arrow schema metadata: it would carry versions"
    charges = pq.read_table(out / "charges.parquet").to_pylist()
    keys = [(row["created_at"], row["charge_id"]) for row in charges]
    assert keys == sorted(keys)
    first_csv_row = (out / "charges.csv").read_text(encoding="utf-8").splitlines()[1].split(",")
    assert first_csv_row[0] == charges[0]["charge_id"]
    assert first_csv_row[3] == charges[0]["created_at"].strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_two_exports_in_separate_processes_are_byte_identical(pipeline, tmp_path):
    outs = [tmp_path / "first", tmp_path / "second"]
    with environment(**pipeline.env, PAYOPS_EXPORT_KEY=KEY):
        for out in outs:
            subprocess.run([PAYOPS, "export", "compliance", "--start", str(START), "--end", str(END),
                            "--out", str(out)], check=True, capture_output=True, text=True, env=os.environ)
    names = sorted(path.name for path in outs[0].iterdir())
    assert names == sorted(path.name for path in outs[1].iterdir())
    for name in names:
        if name != MANIFEST:
            assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name
    manifests = [json.loads((out / MANIFEST).read_text())["signed"] for out in outs]
    for manifest in manifests:
        manifest.pop("generated_at")
    assert manifests[0] == manifests[1], "only the generation time may differ"


def test_verify_names_each_altered_removed_and_added_file_and_a_wrong_signature(exported, tmp_path):
    original, _ = exported
    assert verify_export(original, KEY) == []

    tampered = tmp_path / "tampered"
    shutil.copytree(original, tampered)
    lines = (tampered / "refunds.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    lines[1] = lines[1].replace(",", ",9", 1)  # one altered value in one row
    (tampered / "refunds.csv").write_text("".join(lines), encoding="utf-8")
    (tampered / "disputes.parquet").unlink()
    (tampered / "extra.csv").write_text("smuggled\n")
    assert verify_export(tampered, KEY) == [
        "disputes.parquet: removed (listed in the manifest, not in the folder)",
        "refunds.csv: altered (its SHA-256 differs from the manifest's)",
        "extra.csv: added (in the folder, not in the manifest)",
    ]

    forged = tmp_path / "forged"
    shutil.copytree(original, forged)
    manifest = json.loads((forged / MANIFEST).read_text())
    manifest["signed"]["files"]["charges.csv"]["rows"] += 1
    (forged / MANIFEST).write_text(json.dumps(manifest))
    assert verify_export(forged, KEY) == [
        f"{MANIFEST}: the signature does not match (altered manifest, or another PAYOPS_EXPORT_KEY)"]
    assert len(verify_export(original, "another key")) == 1

    with environment(PAYOPS_EXPORT_KEY=KEY):
        result = CliRunner().invoke(main, ["export", "verify", str(tampered)])
        assert result.exit_code == 1 and "refunds.csv: altered" in result.output
        assert CliRunner().invoke(main, ["export", "verify", str(original)]).exit_code == 0


def seeded_people(pipeline) -> set[str]:
    with pipeline.engine.connect() as conn:
        rows = conn.execute(sa.text("""
            select name, email from app.students union all select name, email from app.families
        """)).all()
    return {value for row in rows for value in row}


def exported_text(out: Path) -> str:
    """Every value of every file, CSV as written and Parquet as read back."""
    parts = [path.read_text(encoding="utf-8") for path in sorted(out.glob("*.csv"))]
    parts += [json.dumps(pq.read_table(path).to_pylist(), default=str) for path in sorted(out.glob("*.parquet"))]
    return "\n".join(parts)


def test_personal_data_is_a_keyed_hash_unless_included_with_a_reason(pipeline, exported, tmp_path, events):
    out, manifest = exported
    people = seeded_people(pipeline)
    fingerprints = {c["card_fingerprint"] for c in expected_fct_charges(events).values() if c["card_fingerprint"]}
    assert people and fingerprints
    text = exported_text(out)
    assert not [value for value in people if value in text]
    assert not [value for value in fingerprints if value in text], "card data stops at brand, country and last4"
    # The token is HMAC-SHA256 of the lower-cased value under a key derived from the export key (docs/exports.md),
    # computed here with Python's hmac; the export computes it in Postgres.
    pii_key = hmac.new(KEY.encode(), b"payops personal data v1", hashlib.sha256).digest()
    tokens = {"hmac:" + hmac.new(pii_key, value.lower().encode(), hashlib.sha256).hexdigest()[:32]: value
              for value in people}
    emails = Counter(row["billing_email"] for row in pq.read_table(out / "charges.parquet").to_pylist())
    assert emails and set(emails) <= set(tokens), "every payer's email is the keyed hash of a seeded email"
    assert manifest["signed"]["pii_policy"]["columns"] == {d.name: list(d.pii_columns) for d in DATASETS
                                                          if d.pii_columns}

    with pytest.raises(ExportError, match="needs --reason"):
        export(pipeline, tmp_path / "no-reason", include_pii=True)
    assert not (tmp_path / "no-reason").exists()

    with_pii = tmp_path / "with-pii"
    manifest = export(pipeline, with_pii, include_pii=True, reason="regulator request 42")
    assert {value for value in people if value in exported_text(with_pii)}
    assert manifest["signed"]["pii_policy"]["reason"] == "regulator request 42"
    with pipeline.engine.connect() as conn:
        recorded = conn.execute(sa.text("""
            select status, admin_email, target_id, reason from ops.admin_actions
            where action_type = 'compliance_export' order by seq
        """)).all()
    period = f"{START}..{END}"
    assert [tuple(row) for row in recorded] == [("requested", "test", period, "regulator request 42"),
                                                ("succeeded", "test", period, "regulator request 42")]


def test_an_export_whose_totals_disagree_with_the_marts_writes_nothing(pipeline, tmp_path):
    lying = replace(CHARGES, check_query=CHARGES.check_query.replace("count(*)", "count(*) + 1"))
    out = tmp_path / "incomplete"
    with pytest.raises(ExportError, match="do not add up to the marts"):
        run_export(pipeline.engine, ExportRequest(START, END, out, requested_by="test"), timezone=TIMEZONE,
                   key=KEY, datasets=[lying])
    assert list(tmp_path.iterdir()) == [], "no manifest, no files, no staging folder"


def test_an_export_whose_parquet_twin_fails_raises_that_error_and_writes_nothing(pipeline, tmp_path):
    import pyarrow as pa

    # The twin is made in a thread while COPY writes the CSV: its error must reach the export, not hang it.
    mistyped = replace(CHARGES, columns=tuple((name, pa.int64() if name == "charge_id" else kind)
                                             for name, kind in CHARGES.columns))
    out = tmp_path / "mistyped"
    with pytest.raises(pa.ArrowInvalid, match="CSV conversion error to int64"):
        run_export(pipeline.engine, ExportRequest(START, END, out, requested_by="test"), timezone=TIMEZONE,
                   key=KEY, datasets=[mistyped])
    assert list(tmp_path.iterdir()) == [], "no manifest, no files, no staging folder"


def test_refusals_say_what_to_do(pipeline, exported, tmp_path):
    with pytest.raises(ExportError, match="PAYOPS_EXPORT_KEY is not set"):
        run_export(pipeline.engine, ExportRequest(START, END, tmp_path / "x", requested_by="test"),
                   timezone=TIMEZONE, key=None)
    with pytest.raises(ExportError, match="is not empty"):
        export(pipeline, exported[0])
    with pytest.raises(ExportError, match="ends .* before it starts"):
        run_export(pipeline.engine, ExportRequest(END, START, tmp_path / "y", requested_by="test"),
                   timezone=TIMEZONE, key=KEY)
    result = CliRunner().invoke(main, ["export", "compliance", "--start", "2026-13-01", "--end", "2026-06-30",
                                       "--out", str(tmp_path / "z")])
    assert result.exit_code == 2 and "2026-13-01" in result.output


def test_the_monthly_asset_writes_the_same_files_as_the_command(pipeline_env, exported):
    import dagster as dg

    from dagster_project.defs.exports.assets import compliance_export
    from dagster_project.defs.resources import WarehouseResource

    with environment(**pipeline_env.env, PAYOPS_EXPORT_KEY=KEY):
        result = dg.materialize([compliance_export], partition_key="2026-06-01",
                                resources={"warehouse": WarehouseResource(payops_home=pipeline_env.env["PAYOPS_HOME"])})
    assert result.success
    folder = pipeline_env.settings.home / "exports" / "compliance" / "2026-06"
    assert verify_export(folder, KEY) == []
    command_output, _ = exported
    for dataset in DATASETS:
        for suffix in ("csv", "parquet"):
            name = f"{dataset.name}.{suffix}"
            assert (folder / name).read_bytes() == (command_output / name).read_bytes(), name


def test_an_export_is_announced_done_or_failed_on_the_alert_channels(pipeline, tmp_path):
    from exports.compliance import export_and_announce

    with pipeline.engine.connect() as conn:
        since = conn.execute(sa.text("select clock_timestamp()")).scalar()  # earlier tests announced exports too
    with environment(**pipeline.env, PAYOPS_EXPORT_KEY=KEY):
        settings = Settings.from_env()
        export_and_announce(pipeline.engine, settings, ExportRequest(START, END, tmp_path / "done", requested_by="t"))
        lying = replace(CHARGES, check_query=CHARGES.check_query.replace("count(*)", "count(*) + 1"))
        with pytest.raises(ExportError):
            export_and_announce(pipeline.engine, settings, ExportRequest(START, END, tmp_path / "failed",
                                                                         requested_by="t"), datasets=[lying])
    with pipeline.engine.connect() as conn:
        announced = conn.execute(sa.text("""
            select kind, severity, message from ops.alert_conditions
            where kind in ('export_done', 'export_failed') and opened_at >= :since order by opened_at
        """), {"since": since}).all()
    period = f"{START}..{END}"
    assert [(row.kind, row.severity) for row in announced] == [("export_done", "info"), ("export_failed", "error")]
    assert period in announced[0].message and "do not add up to the marts" in announced[1].message
