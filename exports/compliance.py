"""Compliance exports: every dataset of a period written as CSV and Parquet, with a signed manifest that proves
the export complete (its totals agree with the marts), unaltered (every file's SHA-256, under an HMAC-SHA256
signature) and minimal in personal data (docs/exports.md).

The same data and parameters give the same bytes: rows in a documented total order, values formatted one way,
Parquet row groups of a fixed size and no writer metadata but pyarrow's pinned version; only the manifest holds
the generation time. Rows stream from a server-side cursor in chunks, so memory does not grow with the period.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from importlib import metadata
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import sqlalchemy as sa
from psycopg import sql as psycopg_sql

from actions.audit import insert_action
from exports.datasets import DATASETS, Dataset
from ingest.notify import Alert, notify_event
from payops.errors import PayopsError
from payops.settings import Settings

FORMAT = "payops-compliance-export/1"
MANIFEST = "manifest.json"
ROWS_PER_CHUNK = 50_000
"""Rows in one Parquet row group: fixed, so the bytes never depend on timing."""
CSV_BLOCK_BYTES = 8 << 20
"""How much CSV pyarrow reads at a time: what bounds the export's memory."""
BLOCK_BYTES = 1 << 20
"""How much of COPY's output is gathered before it goes to the CSV file, its hash and the Parquet twin."""
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

    def add(self, batch: pa.RecordBatch, amount_column: str | None) -> None:
        self.rows += len(batch)
        if not len(batch):
            return
        table = pa.Table.from_batches([batch])
        if "currency" not in table.column_names:
            table = table.append_column("currency", pa.array([ALL_CURRENCIES] * len(table)))
        aggregates = [("currency", "count")] + ([(amount_column, "sum")] if amount_column else [])
        for row in table.group_by("currency").aggregate(aggregates).to_pylist():
            figures = self.per_currency.setdefault(row["currency"], {"rows": 0})
            figures["rows"] += row["currency_count"]
            if amount_column:
                figures[amount_column] = figures.get(amount_column, 0) + (row[f"{amount_column}_sum"] or 0)

    def as_json(self) -> dict[str, dict[str, int | str]]:
        """Major-unit sums (Decimal) as plain decimal strings, minor-unit sums as integers."""
        return {currency: {name: format(value.normalize(), "f") if isinstance(value, Decimal) else value
                           for name, value in figures.items()}
                for currency, figures in self.per_currency.items()}


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


# --- values ---------------------------------------------------------------------------------------------------


def utc_text(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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
    """When the last successful refresh (its dbt build) finished: ops.refreshes, as `payops health` reads it."""
    return conn.execute(sa.text("select max(finished_at) from ops.refreshes where succeeded")).scalar()


# --- writing --------------------------------------------------------------------------------------------------
# Postgres writes the CSV itself (COPY, the physical limit of reading the rows), formatting each type one way;
# pyarrow parses that CSV in C++ to write the Parquet twin and to total what was written. Python never touches a
# row, and the twin is made while the COPY runs: each block COPY sends goes to the file, into the CSV's SHA-256 and
# through a pipe to pyarrow in a second thread (pyarrow's C++ runs without the GIL), so an export costs little more
# than the COPY, and memory stays one block and one row group whatever the period.


def _csv_expression(name: str, kind: pa.DataType, hidden: bool) -> str:
    column = f'"{name}"'
    if hidden:
        # HMAC-SHA256 from Postgres' built-in sha256() and the key's inner and outer pads (RFC 2104), so no
        # extension is needed and the key travels as a bound parameter into a temporary table, never in SQL text.
        return (f"'hmac:' || left(encode(sha256(keys.outer_pad || sha256(keys.inner_pad || "
                f"convert_to(lower(btrim({column})), 'UTF8'))), 'hex'), 32)")
    if pa.types.is_timestamp(kind):
        return f"""to_char({column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""
    if pa.types.is_boolean(kind):
        return f"case when {column} then 'true' when not {column} then 'false' end"
    return column


def _copy_statement(dataset: Dataset, params: dict[str, Any], hide_pii: bool) -> psycopg_sql.Composed:
    select = ", ".join(f'{_csv_expression(name, kind, hide_pii and name in dataset.pii_columns)} as "{name}"'
                       for name, kind in dataset.columns)
    query = dataset.query
    for name in params:
        query = query.replace(f":{name}", f"{{{name}}}")
    inner = psycopg_sql.SQL(query).format(**{name: psycopg_sql.Literal(value) for name, value in params.items()})
    keys = " cross join pg_temp.export_pii_keys as keys" if hide_pii and dataset.pii_columns else ""
    # The dataset's own order by is kept: a subquery's order is what COPY writes for a plain select over it.
    return psycopg_sql.SQL("copy (select {select} from ({inner}) as rows{keys}) to stdout (format csv, header)").format(
        select=psycopg_sql.SQL(select), inner=inner, keys=psycopg_sql.SQL(keys))


def _store_pii_keys(conn: sa.Connection, key: bytes) -> None:
    pii_key = hmac.new(key, b"payops personal data v1", hashlib.sha256).digest().ljust(64, b"\0")
    conn.execute(sa.text("""
        create temporary table export_pii_keys on commit drop as
        select cast(:inner_pad as bytea) as inner_pad, cast(:outer_pad as bytea) as outer_pad
    """), {"inner_pad": bytes(b ^ 0x36 for b in pii_key), "outer_pad": bytes(b ^ 0x5C for b in pii_key)})


@dataclass(frozen=True)
class WrittenDataset:
    totals: DatasetTotals
    csv_sha256: str


def write_dataset(conn: sa.Connection, dataset: Dataset, params: dict[str, Any], folder: Path,
                  hide_pii: bool) -> WrittenDataset:
    """Write one dataset as `<name>.csv` and `<name>.parquet`; return what was written, per currency, and the CSV's
    SHA-256 (taken from the blocks as they were written)."""
    digest = hashlib.sha256()
    twin = _ParquetTwin(dataset, folder / f"{dataset.name}.parquet")
    try:
        with (folder / f"{dataset.name}.csv").open("wb") as file, \
                conn.connection.driver_connection.cursor() as cursor, \
                cursor.copy(_copy_statement(dataset, params, hide_pii)) as copy:
            for block in copy_blocks(copy):
                file.write(block)
                digest.update(block)
                twin.feed(block)
    except BaseException:
        twin.close()
        raise
    return WrittenDataset(twin.result(), digest.hexdigest())


def copy_blocks(rows: Iterable[bytes | memoryview]) -> Iterator[bytes]:
    """COPY's output in blocks of about BLOCK_BYTES: psycopg hands it over one row at a time, and a Python call per
    row for each of the file, the hash and the twin costs more than the rows' transfer."""
    block = bytearray()
    for row in rows:
        block += row
        if len(block) >= BLOCK_BYTES:
            yield bytes(block)
            block.clear()
    yield bytes(block)


class _ParquetTwin:
    """The Parquet file of a CSV being written, made by pyarrow in a thread of its own from the blocks fed to it."""

    def __init__(self, dataset: Dataset, parquet_path: Path) -> None:
        self.dataset, self.parquet_path = dataset, parquet_path
        read_end, write_end = os.pipe()
        self.pipe = os.fdopen(write_end, "wb")
        self.totals: DatasetTotals | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._convert, args=(os.fdopen(read_end, "rb"),),
                                       name=f"parquet-{dataset.name}", daemon=True)
        self.thread.start()

    def feed(self, block: bytes) -> None:
        try:
            self.pipe.write(block)
        except BrokenPipeError:
            # The converter stopped reading: its own error, which result() raises, says why.
            self.close()
            self.result()

    def close(self) -> None:
        """End the CSV and wait for the converter."""
        if not self.pipe.closed:
            self.pipe.close()
        self.thread.join()

    def result(self) -> DatasetTotals:
        """What the twin holds, once the CSV is complete; the converter's error if it failed."""
        self.close()
        if self.error is not None:
            raise self.error
        assert self.totals is not None
        return self.totals

    def _convert(self, csv: BinaryIO) -> None:
        try:
            with csv:
                self.totals = _parquet_twin(self.dataset, csv, self.parquet_path)
        except BaseException as exc:  # handed to the exporting thread by result()
            self.error = exc


def _parquet_twin(dataset: Dataset, csv: BinaryIO, parquet_path: Path) -> DatasetTotals:
    schema = dataset.schema
    reader = pa_csv.open_csv(csv, read_options=pa_csv.ReadOptions(block_size=CSV_BLOCK_BYTES),
                             convert_options=pa_csv.ConvertOptions(
                                 column_types=dict(dataset.columns), include_columns=dataset.column_names,
                                 strings_can_be_null=True, quoted_strings_can_be_null=False))
    totals = DatasetTotals()
    pending: list[pa.RecordBatch] = []
    with pq.ParquetWriter(parquet_path, schema, compression="zstd", store_schema=False) as parquet:
        for batch in reader:
            totals.add(batch, dataset.amount_column)
            pending.append(batch)
            # Row groups of exactly ROWS_PER_CHUNK rows: the file's layout depends on the data alone.
            while sum(len(b) for b in pending) >= ROWS_PER_CHUNK:
                table = pa.Table.from_batches(pending, schema=schema)
                parquet.write_table(table.slice(0, ROWS_PER_CHUNK), row_group_size=ROWS_PER_CHUNK)
                pending = table.slice(ROWS_PER_CHUNK).to_batches()
        if pending or totals.rows == 0:
            parquet.write_table(pa.Table.from_batches(pending, schema=schema), row_group_size=ROWS_PER_CHUNK)
    return totals


def check_totals(conn: sa.Connection, dataset: Dataset, params: dict[str, Any], written: DatasetTotals) -> None:
    """The export is complete when the marts, asked separately, hold the same rows and sums per currency."""
    expected: dict[str, dict[str, int | Decimal]] = {}
    for currency, rows, *amount in conn.execute(sa.text(dataset.check_query), params):
        if rows:
            figures: dict[str, int | Decimal] = {"rows": rows}
            if dataset.amount_column:
                figures[dataset.amount_column] = amount[0]
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

    # Personal data leaves the warehouse only on the record: who, why, which period, before a byte is written.
    audit = _PiiExportAudit(engine, request) if request.include_pii else None
    # Written beside the target and moved in whole: a failed or incomplete export leaves nothing behind.
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        files: dict[str, dict[str, Any]] = {}
        # One snapshot for every dataset and every check: a refresh committing meanwhile changes neither.
        with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn, conn.begin():
            conn.execute(sa.text("set local statement_timeout = 0"))
            if not request.include_pii:
                _store_pii_keys(conn, secret)
            for dataset in datasets:
                written = write_dataset(conn, dataset, params, staging, hide_pii=not request.include_pii)
                totals = written.totals
                check_totals(conn, dataset, params, totals)
                for suffix, sha256 in (("csv", written.csv_sha256), ("parquet", None)):
                    path = staging / f"{dataset.name}.{suffix}"
                    files[path.name] = {"dataset": dataset.name, "format": suffix, "rows": totals.rows,
                                        "totals": totals.as_json(), "sha256": sha256 or sha256_of(path),
                                        "bytes": path.stat().st_size}
                if on_dataset:
                    on_dataset(dataset.name, totals.rows)
            last_refresh = warehouse_last_refresh(conn)
        signed = {
            "format": FORMAT,
            "period": {"start": request.start.isoformat(), "end": request.end.isoformat(), "timezone": timezone},
            "generated_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "code_version": code_version(),
            "warehouse_last_refresh": utc_text(last_refresh),
            "pii_policy": pii_policy(datasets, request),
            "datasets": {d.name: {"description": d.description, "row_order": d.order,
                                  "columns": d.column_names} for d in datasets},
            "files": files,
        }
        manifest = {"signed": signed, "signature": sign(signed, secret)}
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
                                        encoding="utf-8")
        _move_into_place(staging, out_dir)
    except Exception as exc:
        if audit:
            audit.answer(error=str(exc))
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if audit:
        audit.answer(error=None)
    return ExportResult(out_dir, manifest)


def export_and_announce(engine: sa.Engine, settings: Settings, request: ExportRequest,
                        datasets: Sequence[Dataset] = DATASETS,
                        on_dataset: Callable[[str, int], None] | None = None) -> ExportResult:
    """run_export with the installation's time zone and key, announced on the alert channels: done, or failed and
    why (the command line and the Dagster asset both export through here)."""
    period = f"{request.start}..{request.end}"
    try:
        result = run_export(engine, request, timezone=settings.timezone, key=settings.export_key, datasets=datasets,
                            on_dataset=on_dataset)
    except ExportError as exc:
        notify_event(engine, settings, Alert(f"export_failed:{period}:{uuid.uuid4()}", "error",
                                             f"compliance export {period} failed: {exc}"))
        raise
    rows = sum(entry["rows"] for name, entry in result.files.items() if name.endswith(".csv"))
    notify_event(engine, settings, Alert(f"export_done:{period}:{uuid.uuid4()}", "info",
                                         f"compliance export {period} written to {result.out_dir} ({rows} rows)"))
    return result


class _PiiExportAudit:
    """An export with personal data as an admin action: `requested` before it runs, then its outcome."""

    def __init__(self, engine: sa.Engine, request: ExportRequest) -> None:
        self.engine, self.key = engine, f"compliance-export-{uuid.uuid4()}"
        self.fields = {"admin_email": request.requested_by, "action_type": "compliance_export",
                       "target_type": "export", "target_id": f"{request.start}..{request.end}",
                       "idempotency_key": self.key, "reason": request.reason,
                       "params": {"out_dir": str(request.out_dir.resolve()), "include_pii": True}}
        with engine.begin() as conn:
            self.request_id = insert_action(conn, status="requested", **self.fields)

    def answer(self, error: str | None) -> None:
        with self.engine.begin() as conn:
            insert_action(conn, status="failed" if error else "succeeded", request_id=self.request_id, error=error,
                          **self.fields)


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
