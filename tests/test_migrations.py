"""Our alembic migrations on a real (embedded) Postgres: each one can be undone, and applying them again after
undoing all of them gives the same tables, views and columns."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from conftest import embedded_warehouse

from payops.db import MIGRATIONS_DIR, migrate, ready_engine

OUR_SCHEMAS = ("raw", "ops")


def our_relations(engine: sa.Engine) -> set[tuple[str, str, str]]:
    """(schema, table or view, column) of everything in our schemas, alembic's own version table left out."""
    with engine.connect() as conn:
        return set(conn.execute(sa.text(
            "select table_schema, table_name, column_name from information_schema.columns"
            " where table_schema = any(:schemas) and table_name <> 'alembic_version'"),
            {"schemas": list(OUR_SCHEMAS)}).all())


def downgrade_to_base(engine: sa.Engine) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "base")


def test_every_migration_is_undone_and_applying_them_again_restores_the_same_schema(tmp_path):
    with embedded_warehouse(tmp_path / "warehouse") as settings:
        engine = ready_engine(settings)
        at_head = our_relations(engine)
        assert ("ops", "webhook_event_log", "updated_at") in at_head and ("ops", "users", "email") in at_head

        downgrade_to_base(engine)
        assert our_relations(engine) == set()

        migrate(engine)
        assert our_relations(engine) == at_head
        engine.dispose()
