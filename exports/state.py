"""The warehouse's state as Parquet: every table the dbt project's staging models read (its sources), so the same
models can be built by another engine (dbt on Spark, docs/scaling.md) from files instead of from Postgres.

One file per table, OUT/<schema>/<table>.parquet, all read in one repeatable-read snapshot: a receiver or a
refresh writing meanwhile cannot make the files disagree with each other (a charge's state without its events).
jsonb columns are written as their JSON text."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from payops.parquet import write_parquet

STATE_TABLES = (
    ("raw", "stripe_events"),
    ("raw", "stripe_charges"),
    ("raw", "stripe_payment_intents"),
    ("raw", "stripe_refunds"),
    ("raw", "stripe_disputes"),
    ("raw", "stripe_balance_transactions"),
    ("raw", "stripe_payouts"),
    ("raw", "stripe_api_balance_transactions"),
    ("raw", "stripe_payout_balance_transactions"),
    ("raw", "app_rows"),
    ("ops", "webhook_event_log"),
)
"""(schema, table) of every source in dbt/models/staging/*/_*sources.yml; tests/test_spark.py keeps them equal.
The seeds are not among them: they are CSV files in the repository, which dbt loads into any engine."""


@dataclass(frozen=True)
class ExportedTable:
    schema: str
    table: str
    rows: int
    path: Path


def parquet_path(out_dir: Path, schema: str, table: str) -> Path:
    """Where `export_state` writes a table; dbt's Spark target reads it from there (macros/spark_sources.sql)."""
    return out_dir / schema / f"{table}.parquet"


def export_state(engine: sa.Engine, out_dir: Path,
                 on_table: Callable[[ExportedTable], None] | None = None) -> list[ExportedTable]:
    """Write every state table to OUT/<schema>/<table>.parquet (replacing an earlier export's file), from one
    snapshot; `on_table` hears of each table as it is written."""
    exported = []
    snapshot = engine.connect().execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
    with snapshot as conn, conn.begin():
        for schema, table in STATE_TABLES:
            path = parquet_path(out_dir, schema, table)
            rows = write_parquet(conn, schema, table, f"select * from {schema}.{table}", path)
            exported.append(ExportedTable(schema, table, rows, path))
            if on_table:
                on_table(exported[-1])
    return exported
