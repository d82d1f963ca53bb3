"""`payops export`: compliance exports a regulator can trust, and their verification."""

from __future__ import annotations

import getpass
import sys
from datetime import datetime
from pathlib import Path

import click

from exports.compliance import ExportRequest, export_and_announce, verify_export
from exports.state import export_state
from payops.db import ready_engine
from payops_cli.support import CONTEXT_SETTINGS, current_settings, friendly_errors

DAY = click.DateTime(["%Y-%m-%d"])


@click.group(context_settings=CONTEXT_SETTINGS)
def export() -> None:
    """Exports for compliance officers and auditors (docs/exports.md)."""


@export.command("compliance")
@click.option("--start", type=DAY, required=True, help="First reporting day of the period (YYYY-MM-DD).")
@click.option("--end", type=DAY, required=True, help="Last reporting day of the period, included (YYYY-MM-DD).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="A new (or empty) folder for the files and their manifest.")
@click.option("--include-pii", is_flag=True,
              help="Write payers' names and emails as they are instead of keyed hashes (needs --reason).")
@click.option("--reason", help="Why personal data is exported; recorded in the audit trail with who ran it.")
@friendly_errors
def compliance(start: datetime, end: datetime, out: Path, include_pii: bool, reason: str | None) -> None:
    """Write the period's charges, refunds, disputes and reconciliation exceptions as CSV and Parquet.

    Days are cut in PAYOPS_TIMEZONE, as the marts cut them. manifest.json lists every file with its rows, totals
    per currency and SHA-256, and is signed with HMAC-SHA256 under PAYOPS_EXPORT_KEY. The export checks its
    totals against the marts and writes nothing when they differ. The same data and parameters give the same
    bytes (only the manifest's generation time changes).
    """
    settings = current_settings()
    request = ExportRequest(start=start.date(), end=end.date(), out_dir=out, include_pii=include_pii,
                            reason=reason, requested_by=f"cli:{getpass.getuser()}")
    result = export_and_announce(ready_engine(settings), settings, request,
                                 on_dataset=lambda name, rows: click.echo(f"  {name}: {rows} rows", err=True))
    click.echo(f"export of {request.start} .. {request.end} ({settings.timezone}) written to {result.out_dir}; "
               f"check it with `payops export verify {result.out_dir}`")


@export.command("verify")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@friendly_errors
def verify(folder: Path) -> None:
    """Check an export's signature and every file's SHA-256; name each altered, added or removed file.

    Exits 1 when anything differs from the signed manifest (PAYOPS_EXPORT_KEY must be the exporter's key).
    """
    problems = verify_export(folder, current_settings().export_key)
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        click.echo(f"{folder}: {len(problems)} problem(s); this export cannot be trusted", err=True)
        sys.exit(1)
    click.echo(f"{folder}: signature and every file check out")


@export.command("state")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for the files; an earlier export's files there are replaced.")
@friendly_errors
def state(out: Path) -> None:
    """Write the state tables the dbt models read (raw.*, ops.webhook_event_log) as Parquet, for dbt on Spark.

    \b
    One file per table, OUT/<schema>/<table>.parquet, all from one snapshot of the warehouse. Build the marts
    from them with `dbt build --target spark --vars '{state_dir: OUT}'` (docs/scaling.md).
    """
    exported = export_state(ready_engine(current_settings()), out,
                            on_table=lambda t: click.echo(f"  {t.schema}.{t.table}: {t.rows} rows", err=True))
    click.echo(f"{len(exported)} tables written to {out}")
