"""The `payops` command line: a shell over the core (payops), ingest/, demo/ and dagster_project/."""
