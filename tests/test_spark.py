"""dbt on Spark (issue 16, docs/scaling.md): the session's demo warehouse, built on Postgres through Dagster, is
exported with `payops export state`; the same dbt project then builds every model and runs every data test on a
local SparkSession (dbt-spark, `method: session`) from those Parquet files alone. payments_daily, fct_charges,
fct_disputes and dispute_metrics must equal the Postgres build row for row, column for column: amounts as exact
decimals and integers, times to the microsecond, floats to 1e-9.

Marked `spark`: `make test` leaves it out (it needs `pip install -e '.[spark]'` and Java 17); `make test-spark` runs it.
"""

from __future__ import annotations

import math
import os
import subprocess
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from conftest import DBT, DBT_PROJECT_DIR, environment

from payops_cli.main import main as payops

# The module's first test waits for the session's Postgres pipeline and the Spark build: 20 minutes measured on 2
# cores under load average ~13 (the Spark build 7 of them).
pytestmark = [pytest.mark.spark, pytest.mark.timeout(2400)]

COMPARED_MARTS = {
    "payments_daily": ("day", "currency", "livemode"),
    "fct_charges": ("charge_id",),
    "fct_disputes": ("dispute_id",),
    "dispute_metrics": ("month", "network", "livemode"),
}
"""The marts compared with Postgres, by the columns of their unique index."""
SPARK_BUILD_TIMEOUT = 900


@pytest.fixture(scope="module")
def spark_build(pipeline, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every model built on Spark from `payops export state`'s files; returns Spark's warehouse folder."""
    root = tmp_path_factory.mktemp("spark")
    state_dir, warehouse = root / "state", root / "warehouse"
    with environment(**pipeline.env):
        exported = CliRunner().invoke(payops, ["export", "state", "--out", str(state_dir)])
    assert exported.exit_code == 0, exported.output
    result = subprocess.run(
        [str(DBT), "build", "--target", "spark", "--exclude-resource-type", "unit_test",
         "--vars", f"{{state_dir: {state_dir}}}",
         "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
         "--target-path", str(root / "target"), "--log-path", str(root / "logs")],
        env={**os.environ, "PAYOPS_SPARK_WAREHOUSE": str(warehouse), "PAYOPS_TIMEZONE": pipeline.settings.timezone},
        capture_output=True, text=True, timeout=SPARK_BUILD_TIMEOUT, check=False,
    )
    summary = [line for line in result.stdout.splitlines() if "ERROR" in line or "FAIL" in line or "Done." in line]
    assert result.returncode == 0, "dbt build on Spark failed:\n" + "\n".join(summary) + "\n" + result.stdout[-6000:]
    return warehouse


def spark_rows(warehouse: Path, mart: str) -> list[dict[str, Any]]:
    """A Spark table's rows, read from its Parquet files (the in-memory catalog is gone with dbt's process)."""
    folder = warehouse / "analytics.db" / mart
    assert folder.is_dir(), f"Spark built no {mart} (no {folder})"
    return pq.read_table(folder).to_pylist()


def postgres_rows(pipeline, mart: str) -> list[dict[str, Any]]:
    with pipeline.engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(sa.text(f"select * from analytics.{mart}"))]


def normalized(value: Any) -> Any:
    """One form for both engines: an instant as naive UTC (Spark's Parquet timestamps carry no zone)."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def same(postgres: Any, spark: Any) -> bool:
    postgres, spark = normalized(postgres), normalized(spark)
    if postgres is None or spark is None:
        return postgres is None and spark is None
    if isinstance(postgres, float) or isinstance(spark, float):
        return math.isclose(float(postgres), float(spark), rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(postgres, Decimal) or isinstance(spark, Decimal):
        return Decimal(postgres) == Decimal(spark)  # exact: 12.50 (numeric(…,2)) equals 12.500000 (decimal(38,6))
    return postgres == spark


@pytest.mark.parametrize("mart", COMPARED_MARTS)
def test_the_spark_build_equals_the_postgres_build_row_for_row(pipeline, spark_build, mart):
    key = COMPARED_MARTS[mart]
    expected = {tuple(normalized(row[c]) for c in key): row for row in postgres_rows(pipeline, mart)}
    actual = {tuple(normalized(row[c]) for c in key): row for row in spark_rows(spark_build, mart)}
    assert expected, f"the Postgres build's {mart} is empty: nothing would be compared"
    assert sorted(actual[next(iter(actual))]) == sorted(expected[next(iter(expected))]), f"{mart}: other columns"
    assert sorted(actual, key=repr) == sorted(expected, key=repr), (
        f"{mart}: keys only on Postgres {sorted(expected.keys() - actual.keys(), key=repr)[:10]}, "
        f"only on Spark {sorted(actual.keys() - expected.keys(), key=repr)[:10]}")
    mismatches = [
        (key_values, column, expected_row[column], actual[key_values][column])
        for key_values, expected_row in sorted(expected.items(), key=lambda item: repr(item[0]))
        for column in expected_row
        if not same(expected_row[column], actual[key_values][column])
    ]
    assert not mismatches, f"{mart}: {len(mismatches)} values differ (key, column, postgres, spark): {mismatches[:20]}"


def test_the_compared_marts_hold_money(pipeline, spark_build):
    """The comparison is not vacuous: the Spark build's charges add up to the generated volume, to the cent."""
    with pipeline.engine.connect() as conn:
        expected = conn.execute(sa.text(
            "select lower(object ->> 'currency'), sum((object ->> 'amount')::bigint) from raw.stripe_charges group by 1"
        )).all()
    totals: dict[str, int] = {}
    for row in spark_rows(spark_build, "fct_charges"):
        totals[row["currency"]] = totals.get(row["currency"], 0) + row["amount_minor"]
    assert totals == dict(expected)
    assert sum(totals.values()) > 0
