"""Loading data into the warehouse's raw schema. Plain Python: Dagster and the CLI are thin shells over it."""
