"""Compliance exports (plain Python): a period's payments, refunds, disputes and reconciliation as signed,
reproducible CSV and Parquet files; see docs/exports.md."""
