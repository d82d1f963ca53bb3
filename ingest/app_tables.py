"""Copy the platform's own tables into raw.app_rows, incrementally by each table's `updated_at`.

Rows land as JSON records (one per row, keyed by table and id), so a column added in the platform's
database reaches staging without a migration here. Each table keeps a watermark in ops.ingest_watermarks;
a copy re-reads a short overlap before it, because a transaction that commits late can carry an
`updated_at` older than rows already copied. The upsert makes the overlap harmless.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from payops.errors import PayopsError

APP_SCHEMA = "app"
APP_TABLES = (
    "families",
    "students",
    "lesson_packages",
    "purchase_transactions",
    "student_account_balances",
    "stored_payment_methods",
    "receipts",
)
OVERLAP = timedelta(minutes=5)
BATCH_ROWS = 10_000


class AppTableMissing(PayopsError, LookupError):
    pass


@dataclass(frozen=True)
class TableCopy:
    table: str
    read: int
    """rows at or after the watermark (minus the overlap)"""
    changed: int
    """rows inserted or updated in raw.app_rows"""
    watermark: datetime | None


def _watermark_key(table: str) -> str:
    return f"app.{table}"


def _read_watermark(conn: sa.Connection, table: str) -> datetime | None:
    return conn.execute(
        sa.text("select watermark from ops.ingest_watermarks where source = :source"),
        {"source": _watermark_key(table)},
    ).scalar()


STRIPE_ONLY = (
    "no platform tables (schema `app` has none of {tables}): running on Stripe alone, so the app ingest is "
    "skipped and the marts that join the platform's purchases stay empty"
)


def _present_tables(app: sa.Engine) -> set[str]:
    with app.connect() as conn:
        return set(sa.inspect(conn).get_table_names(schema=APP_SCHEMA))


def stripe_only(app: sa.Engine) -> bool:
    """True when the platform database has none of the app tables: a platform with Stripe alone. Some but
    not all of them is a misconfiguration, which copy_app_tables reports."""
    return not _present_tables(app) & set(APP_TABLES)


def _check_tables_exist(app: sa.Engine, tables: tuple[str, ...]) -> None:
    present = _present_tables(app)
    missing = [t for t in tables if t not in present]
    if missing:
        raise AppTableMissing(
            f"The platform database ({app.url.render_as_string(hide_password=True)}) has no "
            f"{', '.join(f'{APP_SCHEMA}.{t}' for t in missing)}. Point APP_DATABASE_URL at it, "
            "or run `payops demo-data` to create demo tables."
        )


def copy_table(app: sa.Engine, warehouse: sa.Engine, table: str) -> TableCopy:
    """Copy one table's rows changed since its watermark; the upsert and the new watermark commit together."""
    with warehouse.connect() as wh:
        since = _read_watermark(wh, table)
    query = (
        f"select id::text, updated_at, row_to_json(t)::text from {APP_SCHEMA}.{table} t"
        + (" where updated_at >= :since" if since else "")
        + " order by updated_at"
    )
    read = changed = 0
    newest = since
    with app.connect().execution_options(stream_results=True, yield_per=BATCH_ROWS) as src, warehouse.begin() as wh:
        raw = wh.connection.driver_connection
        raw.execute("create temporary table if not exists app_rows_stage"
                    " (id text, updated_at timestamptz, record text) on commit drop")
        with raw.cursor().copy("copy app_rows_stage (id, updated_at, record) from stdin") as copy:
            for row_id, updated_at, record in src.execute(sa.text(query), {"since": since - OVERLAP} if since else {}):
                copy.write_row((row_id, updated_at, record))
                read += 1
                newest = updated_at if newest is None or updated_at > newest else newest
        changed = wh.execute(
            sa.text(
                "insert into raw.app_rows (source_table, id, updated_at, record)"
                " select :table, id, updated_at, record::jsonb from app_rows_stage"
                " on conflict (source_table, id) do update"
                "  set updated_at = excluded.updated_at, record = excluded.record, loaded_at = now()"
                "  where raw.app_rows.record is distinct from excluded.record"
                "    and raw.app_rows.updated_at <= excluded.updated_at"
            ),
            {"table": table},
        ).rowcount
        if newest is not None:
            wh.execute(
                sa.text(
                    "insert into ops.ingest_watermarks (source, watermark) values (:source, :watermark)"
                    " on conflict (source) do update set watermark = excluded.watermark, updated_at = now()"
                ),
                {"source": _watermark_key(table), "watermark": newest},
            )
    return TableCopy(table, read, changed, newest)


def copy_app_tables(app: sa.Engine, warehouse: sa.Engine, tables: tuple[str, ...] = APP_TABLES) -> list[TableCopy]:
    """Copy every platform table incrementally; raises AppTableMissing before copying anything."""
    _check_tables_exist(app, tables)
    return [copy_table(app, warehouse, table) for table in tables]
