"""Exports (plain Python): compliance exports, a period's payments, refunds, disputes and reconciliation as
signed, reproducible CSV and Parquet files (docs/exports.md); and the warehouse's state tables as Parquet for dbt
on Spark (docs/scaling.md)."""
