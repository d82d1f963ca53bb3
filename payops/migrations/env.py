"""Alembic runs only through payops.db.migrate, which hands over an open connection."""

from alembic import context

connection = context.config.attributes["connection"]
connection.exec_driver_sql("create schema if not exists ops")
context.configure(connection=connection, version_table_schema="ops", transactional_ddl=True)
with context.begin_transaction():
    context.run_migrations()
