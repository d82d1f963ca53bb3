"""Compliance exports: every dataset of a period written as CSV and Parquet, with a signed manifest that proves
the export complete (its totals agree with the marts), unaltered (every file's SHA-256, under an HMAC-SHA256
signature) and minimal in personal data (docs/exports.md).

The same data and parameters give the same bytes: rows in a documented total order, values formatted one way,
Parquet row groups of a fixed size and no writer metadata but pyarrow's pinned version; only the manifest holds
the generation time. Rows stream from a server-side cursor in chunks, so memory does not grow with the period.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from exports.datasets import DATASETS, Dataset
from payops.errors import PayopsError

FORMAT = "payops-compliance-export/1"
MANIFEST = "manifest.json"
ROWS_PER_CHUNK = 50_000
"""Rows fetched, and written as one Parquet row group, at a time: fixed, so the bytes never depend on timing."""
ALL_CURRENCIES = "*"
"""The totals key of a dataset without a currency column."""
REPO_ROOT = Path(__file__).resolve().parent.parent


class ExportError(PayopsError):
    """An export payops refuses to write, or one that failed its own checks; nothing is left half-written."""


@dataclass(frozen=True)
class ExportRequest:
    start: date
    end: date
    out_dir: Path
    requested_by: str
    include_pii: bool = False
    reason: str | None = None
    replace: bool = False
    """write over an earlier export in out_dir (the Dagster asset re-materializing a month)"""


@dataclass
class DatasetTotals:
    rows: int = 0
    per_currency: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, currency: str | None, amount_minor: int | None) -> None:
        self.rows += 1
        figures = self.per_currency.setdefault(currency or ALL_CURRENCIES, {"rows": 0})
        figures["rows"] += 1
        if amount_minor is not None:
            figures["amount_minor"] = figures.get("amount_minor", 0) + amount_minor


@dataclass(frozen=True)
class ExportResult:
    out_dir: Path
    manifest: dict[str, Any]

    @property
    def files(self) -> dict[str, dict[str, Any]]:
        return self.manifest["signed"]["files"]


# --- keys and signatures --------------------------------------------------------------------------------------


def require_key(key: str | None) -> bytes:
    if not key:
        raise ExportError(
            "PAYOPS_EXPORT_KEY is not set: compliance exports are signed with it, and `payops export verify` needs "
            "the same key. Make one once and keep it in your secret store, e.g.\n"
            "  export PAYOPS_EXPORT_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))')")
    return key.encode()


def _canonical(document: Any) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(signed: dict[str, Any], key: bytes) -> dict[str, str]:
    return {"algorithm": "HMAC-SHA256", "key_fingerprint": hashlib.sha256(key).hexdigest()[:16],
            "value": hmac.new(key, _canonical(signed), hashlib.sha256).hexdigest()}


def pii_hasher(key: bytes) -> Callable[[str | None], str | None]:
    """A keyed hash of personal data: the same person gives the same token in every export made with this key, so
    an auditor can still count and match, but the value cannot be read back or guessed from a list of emails
    without the key. Its key is derived from the export key, so a signature never reveals it."""
    pii_key = hmac.new(key, b"payops personal data v1", hashlib.sha256).digest()

    def hashed(value: str | None) -> str | None:
        if value is None:
            return None
        return "hmac:" + hmac.new(pii_key, value.strip().lower().encode(), hashlib.sha256).hexdigest()[:32]

    return hashed


# --- values ---------------------------------------------------------------------------------------------------


def csv_value(value: Any) -> str:
    """One way to write each type: the CSV's bytes depend on the data alone."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def code_version() -> str:
    """`git describe` of the checkout when there is one, else the installed package's version."""
    if (REPO_ROOT / ".git").exists():
        described = subprocess.run(["git", "-C", str(REPO_ROOT), "describe", "--always", "--dirty", "--tags"],
                                   capture_output=True, text=True, check=False)
        if described.returncode == 0:
            return f"git:{described.stdout.strip()}"
    return f"payops {metadata.version('payops')}"


def warehouse_last_refresh(conn: sa.Connection) -> datetime | None:
    """When dbt last built a mart: every build analyzes the tables it writes (docs/decisions.md §17)."""
    return conn.execute(sa.text("""
        select max(last_analyze) from pg_stat_user_tables where schemaname = 'analytics'
    """)).scalar()


# --- writing --------------------------------------------------------------------------------------------------


def _chunks(conn: sa.Connection, dataset: Dataset, params: dict[str, Any]) -> Iterator[Sequence[Sequence[Any]]]:
    result = conn.execution_options(stream_results=True, max_row_buffer=ROWS_PER_CHUNK).execute(
        sa.text(dataset.query), params)
    while chunk := result.fetchmany(ROWS_PER_CHUNK):
        yield chunk


def write_dataset(conn: sa.Connection, dataset: Dataset, params: dict[str, Any], folder: Path,
                  hide: Callable[[str | None], str | None] | None) -> DatasetTotals:
    """Stream one dataset into `<name>.csv` and `<name>.parquet`; return what was written, per currency."""
    names = dataset.column_names
    pii = [names.index(column) for column in dataset.pii_columns] if hide else []
    currency_at = names.index("currency") if "currency" in names else None
    amount_at = names.index(dataset.amount_column) if dataset.amount_column else None
    totals = DatasetTotals()
    schema = dataset.schema
    with (folder / f"{dataset.name}.csv").open("w", encoding="utf-8", newline="") as csv_file, \
            pq.ParquetWriter(folder / f"{dataset.name}.parquet", schema, compression="zstd",
                             store_schema=False, write_statistics=True) as parquet:
        writer = csv.writer(csv_file, lineterminator="\n")
        writer.writerow(names)
        for chunk in _chunks(conn, dataset, params):
            rows = [list(row) for row in chunk]
            for row in rows:
                for at in pii:
                    row[at] = hide(row[at])
                totals.add(row[currency_at] if currency_at is not None else None,
                           row[amount_at] if amount_at is not None else None)
            writer.writerows([csv_value(value) for value in row] for row in rows)
            columns = [pa.array([row[at] for row in rows], type=kind) for at, (_, kind) in enumerate(dataset.columns)]
            parquet.write_table(pa.Table.from_arrays(columns, schema=schema), row_group_size=ROWS_PER_CHUNK)
    return totals


def check_totals(conn: sa.Connection, dataset: Dataset, params: dict[str, Any], written: DatasetTotals) -> None:
    """The export is complete when the marts, asked separately, hold the same rows and sums per currency."""
    if dataset.check_query is None:
        return
    expected: dict[str, dict[str, int]] = {}
    for currency, rows, amount in conn.execute(sa.text(dataset.check_query), params):
        if rows:
            figures = {"rows": rows} if amount is None else {"rows": rows, "amount_minor": int(amount)}
            expected[currency or ALL_CURRENCIES] = figures
    if expected != written.per_currency:
        raise ExportError(
            f"{dataset.name}: the written rows do not add up to the marts for the period "
            f"(written {written.per_currency}, marts {expected}); was a refresh running? Nothing was kept; run the "
            "export again.")


def run_export(engine: sa.Engine, request: ExportRequest, *, timezone: str, key: str | None,
               datasets: Sequence[Dataset] = DATASETS,
               on_dataset: Callable[[str, int], None] | None = None) -> ExportResult:
    """Write the period's datasets and their signed manifest into request.out_dir, or nothing at all."""
    secret = require_key(key)
    if request.end < request.start:
        raise ExportError(f"the period ends ({request.end}) before it starts ({request.start})")
    if request.include_pii and not (request.reason or "").strip():
        raise ExportError("an export with personal data needs --reason: it is recorded in the audit trail")
    out_dir = request.out_dir.resolve()
    if out_dir.exists() and any(out_dir.iterdir()) and not request.replace:
        raise ExportError(f"{out_dir} is not empty: choose a new --out folder (an export is never written over)")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    params = {"start_day": request.start, "end_day": request.end, "tz": timezone}
    hide = None if request.include_pii else pii_hasher(secret)

    # Written beside the target and moved in whole: a failed or incomplete export leaves nothing behind.
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        files: dict[str, dict[str, Any]] = {}
        # One snapshot for every dataset and every check: a refresh committing meanwhile changes neither.
        with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn, conn.begin():
            conn.execute(sa.text("set local statement_timeout = 0"))
            for dataset in datasets:
                totals = write_dataset(conn, dataset, params, staging, hide)
                check_totals(conn, dataset, params, totals)
                for suffix in ("csv", "parquet"):
                    path = staging / f"{dataset.name}.{suffix}"
                    files[path.name] = {"dataset": dataset.name, "format": suffix, "rows": totals.rows,
                                        "totals": totals.per_currency, "sha256": sha256_of(path),
                                        "bytes": path.stat().st_size}
                if on_dataset:
                    on_dataset(dataset.name, totals.rows)
            last_refresh = warehouse_last_refresh(conn)
        signed = {
            "format": FORMAT,
            "period": {"start": request.start.isoformat(), "end": request.end.isoformat(), "timezone": timezone},
            "generated_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "code_version": code_version(),
            "warehouse_last_refresh": csv_value(last_refresh) or None,
            "pii_policy": pii_policy(datasets, request),
            "datasets": {d.name: {"description": d.description, "row_order": d.order,
                                  "columns": d.column_names} for d in datasets},
            "files": files,
        }
        manifest = {"signed": signed, "signature": sign(signed, secret)}
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
                                        encoding="utf-8")
        _move_into_place(staging, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ExportResult(out_dir, manifest)


def pii_policy(datasets: Sequence[Dataset], request: ExportRequest) -> dict[str, Any]:
    return {
        "personal_data": "included" if request.include_pii else "keyed hash (HMAC-SHA256 under a key derived "
                                                                 "from PAYOPS_EXPORT_KEY)",
        "columns": {d.name: list(d.pii_columns) for d in datasets if d.pii_columns},
        "card_data": "brand, country and last4 only",
        "requested_by": request.requested_by,
        "reason": request.reason if request.include_pii else None,
        "document": "docs/exports.md",
    }


def _move_into_place(staging: Path, out_dir: Path) -> None:
    if out_dir.exists():
        previous = out_dir.with_name(f".{out_dir.name}.previous")
        shutil.rmtree(previous, ignore_errors=True)
        out_dir.rename(previous)
        staging.rename(out_dir)
        shutil.rmtree(previous)
    else:
        staging.rename(out_dir)
    out_dir.chmod(0o700)


# --- verifying ------------------------------------------------------------------------------------------------


def verify_export(folder: Path, key: str | None) -> list[str]:
    """Every problem found in an export folder, one line each: [] means the signature and every file check out."""
    secret = require_key(key)
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        return [f"{MANIFEST} is missing: {folder} is not a payops export, or its manifest was removed"]
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        signed, signature = manifest["signed"], manifest["signature"]["value"]
        listed: dict[str, dict[str, Any]] = signed["files"]
    except (ValueError, KeyError, TypeError) as exc:
        return [f"{MANIFEST} is not a payops export manifest ({exc.__class__.__name__}: {exc})"]
    problems = []
    if not hmac.compare_digest(str(signature), sign(signed, secret)["value"]):
        problems.append(f"{MANIFEST}: the signature does not match (altered manifest, or another PAYOPS_EXPORT_KEY)")
    present = {path.name for path in folder.iterdir() if path.name != MANIFEST}
    for name in sorted(listed):
        if name not in present:
            problems.append(f"{name}: removed (listed in the manifest, not in the folder)")
        elif sha256_of(folder / name) != listed[name]["sha256"]:
            problems.append(f"{name}: altered (its SHA-256 differs from the manifest's)")
    problems += [f"{name}: added (in the folder, not in the manifest)" for name in sorted(present - set(listed))]
    return problems
