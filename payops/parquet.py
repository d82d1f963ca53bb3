"""A Postgres table's rows, streamed into a Parquet file: the one writer behind `payops archive` and
`payops export state`.

Columns keep their Postgres types where Parquet has one; jsonb, numeric and arrays are written as their text,
which every reader (pyarrow, Spark's from_json) parses again. Fixed row groups and no schema metadata make a
file byte-reproducible for the same rows with the pinned pyarrow."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

ROWS_PER_GROUP = 10_000
"""Parquet row group and fetch size: bounds memory (about 2 KB an event) and keeps files byte-reproducible."""

ARROW_TYPES = {
    "text": pa.string(), "character varying": pa.string(), "boolean": pa.bool_(), "bigint": pa.int64(),
    "integer": pa.int32(), "smallint": pa.int16(), "double precision": pa.float64(), "real": pa.float32(),
    "timestamp with time zone": pa.timestamp("us", tz="UTC"), "timestamp without time zone": pa.timestamp("us"),
    "date": pa.date32(),
}
"""Postgres column types as Parquet keeps them; any other type (jsonb, numeric, arrays) is written as its text."""


def _columns(conn: sa.Connection, schema: str, table: str) -> list[tuple[str, pa.DataType, bool]]:
    rows = conn.execute(sa.text("""
        select column_name, data_type from information_schema.columns
        where table_schema = :schema and table_name = :table order by ordinal_position
    """), {"schema": schema, "table": table}).all()
    return [(name, ARROW_TYPES.get(kind, pa.string()), kind not in ARROW_TYPES) for name, kind in rows]


def write_parquet(conn: sa.Connection, schema: str, table: str, query: str, path: Path) -> int:
    """Stream the query's rows (the columns of `schema.table`) into a Parquet file, written aside then moved
    into place; returns the row count."""
    columns = _columns(conn, schema, table)
    arrow_schema = pa.schema([(name, kind) for name, kind, _ in columns])
    as_text = [name for name, _, text in columns if text]
    select = ", ".join(f"{name}::text as {name}" if name in as_text else name for name, _, _ in columns)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".parquet.partial")
    rows = 0
    with pq.ParquetWriter(partial, arrow_schema, compression="zstd") as writer:
        for batch in _fetch_batches(conn, f"select {select} from ({query}) as exported"):
            table_batch = pa.Table.from_pylist([dict(row._mapping) for row in batch], schema=arrow_schema)
            writer.write_table(table_batch.replace_schema_metadata(None), row_group_size=ROWS_PER_GROUP)
            rows += len(batch)
    with partial.open("rb") as written:
        os.fsync(written.fileno())
    os.replace(partial, path)
    return rows


def _fetch_batches(conn: sa.Connection, query: str) -> Iterator[list[sa.Row]]:
    result = conn.execute(sa.text(query).execution_options(stream_results=True, yield_per=ROWS_PER_GROUP))
    yield from result.partitions(ROWS_PER_GROUP)
