"""The tutoring platform's own tables (schema `app`), shaped after its Django models: PurchaseTransaction,
StudentAccountBalance, StoredPaymentMethod and Receipt, plus the families, students and packages they refer to.

Demo data: loading drops and recreates these tables. Rows are streamed in batches with COPY inside one
transaction, and foreign keys are added at the end (faster, and readers never see a half-loaded set).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

SCHEMA = "app"
STAMPS = (("created_at", "timestamptz not null"), ("updated_at", "timestamptz not null"))
TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "families": (
        ("id", "bigint primary key"), ("name", "text not null"), ("email", "text not null"),
        ("stripe_customer_id", "text not null unique"), *STAMPS,
    ),
    "students": (
        ("id", "bigint primary key"), ("family_id", "bigint not null"), ("name", "text not null"),
        ("email", "text not null"), *STAMPS,
    ),
    "lesson_packages": (
        ("id", "bigint primary key"), ("name", "text not null"), ("hours", "numeric(6,2) not null"),
        ("price", "numeric(14,3) not null"), ("currency", "text not null"), ("is_active", "boolean not null"),
        *STAMPS,
    ),
    "purchase_transactions": (
        ("id", "bigint primary key"), ("student_id", "bigint not null"), ("package_id", "bigint not null"),
        ("transaction_type", "text not null"), ("payment_status", "text not null"),
        ("hours_purchased", "numeric(6,2) not null"), ("amount", "numeric(14,3) not null"),
        ("currency", "text not null"), ("stripe_payment_intent_id", "text"), ("stripe_charge_id", "text"),
        ("stripe_customer_id", "text not null"), ("livemode", "boolean not null"), ("expires_at", "timestamptz"),
        ("metadata", "jsonb not null"), *STAMPS,
    ),
    "student_account_balances": (
        ("id", "bigint primary key"), ("student_id", "bigint not null unique"),
        ("hours_purchased", "numeric(8,2) not null"), ("hours_consumed", "numeric(8,2) not null"),
        ("balance_amount", "numeric(14,3) not null"), ("currency", "text not null"), *STAMPS,
    ),
    "stored_payment_methods": (
        ("id", "bigint primary key"), ("student_id", "bigint not null"), ("stripe_payment_method_id", "text not null"),
        ("card_brand", "text not null"), ("card_last4", "text not null"), ("card_exp_month", "int not null"),
        ("card_exp_year", "int not null"), ("is_default", "boolean not null"), ("is_active", "boolean not null"),
        *STAMPS,
    ),
    "receipts": (
        ("id", "bigint primary key"), ("student_id", "bigint not null"), ("transaction_id", "bigint not null"),
        ("receipt_number", "text not null unique"), ("amount", "numeric(14,3) not null"),
        ("currency", "text not null"), ("generated_at", "timestamptz not null"), ("is_valid", "boolean not null"),
        *STAMPS,
    ),
}
FOREIGN_KEYS = (
    ("students", "family_id", "families"),
    ("purchase_transactions", "student_id", "students"),
    ("purchase_transactions", "package_id", "lesson_packages"),
    ("student_account_balances", "student_id", "students"),
    ("stored_payment_methods", "student_id", "students"),
    ("receipts", "student_id", "students"),
    ("receipts", "transaction_id", "purchase_transactions"),
)
PAYMENT_STATUSES = ("pending", "processing", "completed", "failed", "cancelled", "refunded")
BATCH_ROWS = 5_000


def _create_statements() -> list[str]:
    statements = [f"create schema if not exists {SCHEMA}",
                  f"drop table if exists {', '.join(f'{SCHEMA}.{t}' for t in TABLES)} cascade"]
    for table, columns in TABLES.items():
        body = ", ".join(f"{name} {type_}" for name, type_ in columns)
        statements.append(f"create table {SCHEMA}.{table} ({body})")
    statements.append(f"alter table {SCHEMA}.purchase_transactions add check (payment_status in {PAYMENT_STATUSES})")
    return statements


def _finish_statements() -> list[str]:
    statements = [f"alter table {SCHEMA}.{table} add foreign key ({column}) references {SCHEMA}.{target} (id)"
                  for table, column, target in FOREIGN_KEYS]
    # The incremental copy reads each table by its updated_at watermark.
    statements += [f"create index on {SCHEMA}.{table} (updated_at, id)" for table in TABLES]
    return statements


class AppTables:
    """Recreates the tables, takes rows (tuples in TABLES' column order) and COPYs them in batches."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._batches: dict[str, list[tuple[Any, ...]]] = {table: [] for table in TABLES}
        self.counts: dict[str, int] = dict.fromkeys(TABLES, 0)

    def __enter__(self) -> AppTables:
        self._conn = self._engine.connect()
        self._transaction = self._conn.begin()
        self._cursor = self._conn.connection.driver_connection.cursor()
        for statement in _create_statements():
            self._cursor.execute(statement)
        return self

    def add(self, table: str, row: tuple[Any, ...]) -> None:
        batch = self._batches[table]
        batch.append(row)
        self.counts[table] += 1
        if len(batch) >= BATCH_ROWS:
            self._copy(table)

    def _copy(self, table: str) -> None:
        columns = ", ".join(name for name, _ in TABLES[table])
        with self._cursor.copy(f"copy {SCHEMA}.{table} ({columns}) from stdin") as copy:
            for row in self._batches[table]:
                copy.write_row(row)
        self._batches[table].clear()

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        try:
            if exc_type is None:
                for table in TABLES:
                    self._copy(table)
                for statement in _finish_statements():
                    self._cursor.execute(statement)
                self._transaction.commit()
            else:
                self._transaction.rollback()
        finally:
            self._cursor.close()
            self._conn.close()


class DiscardedTables:
    """Stands in for AppTables when only the Stripe events are wanted."""

    counts: dict[str, int] = {}

    def __enter__(self) -> DiscardedTables:
        return self

    def add(self, table: str, row: tuple[Any, ...]) -> None:
        """Dropped."""

    def __exit__(self, *_: object) -> None:
        """Nothing to finish."""
