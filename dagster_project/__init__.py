"""Dagster shell over payops: assets that call `ingest/` and the dbt project, plus their schedule."""
