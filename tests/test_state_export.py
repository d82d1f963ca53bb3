"""`payops export state`: every table the dbt project's sources name, as Parquet, for dbt on Spark (tests/test_spark.py
builds the marts from these files)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa
import yaml
from click.testing import CliRunner
from conftest import DBT_PROJECT_DIR, environment

from exports.state import STATE_TABLES, parquet_path
from payops_cli.main import main as payops


def dbt_sources() -> set[tuple[str, str]]:
    """(schema, table) of every source in the dbt project's yml files."""
    found = set()
    for path in (DBT_PROJECT_DIR / "models").rglob("_*sources.yml"):
        for source in yaml.safe_load(path.read_text())["sources"]:
            found |= {(source["schema"], table.get("identifier", table["name"])) for table in source["tables"]}
    return found


def test_the_export_holds_every_source_of_the_dbt_project():
    assert set(STATE_TABLES) == dbt_sources()


def test_export_state_writes_each_table_whole_with_its_values(pipeline, tmp_path: Path):
    out = tmp_path / "state"
    with environment(**pipeline.env):
        result = CliRunner().invoke(payops, ["export", "state", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"{len(STATE_TABLES)} tables written to {out}" in result.output

    with pipeline.engine.connect() as conn:
        for schema, table in STATE_TABLES:
            written = pq.read_table(parquet_path(out, schema, table))
            assert written.num_rows == conn.execute(sa.text(f"select count(*) from {schema}.{table}")).scalar_one()
        charges = conn.execute(sa.text(
            "select id, (object ->> 'amount')::bigint as amount, updated_at from raw.stripe_charges")).all()
    assert charges, "the demo warehouse has no charge: nothing would be compared"

    written = pq.read_table(parquet_path(out, "raw", "stripe_charges"))
    # jsonb as its JSON text, timestamptz as UTC instants to the microsecond
    assert written.schema.field("object").type == pa.string()
    assert written.schema.field("updated_at").type == pa.timestamp("us", tz="UTC")
    exported = {row["id"]: (json.loads(row["object"])["amount"], row["updated_at"]) for row in written.to_pylist()}
    assert exported == {charge.id: (charge.amount, charge.updated_at) for charge in charges}


def test_a_second_export_replaces_the_files_of_the_first(pipeline, tmp_path: Path):
    out = tmp_path / "state"
    stale = parquet_path(out, "raw", "stripe_events")
    stale.parent.mkdir(parents=True)
    pq.write_table(pa.table({"event_id": ["evt_stale"]}), stale)
    with environment(**pipeline.env):
        assert CliRunner().invoke(payops, ["export", "state", "--out", str(out)]).exit_code == 0
    assert "evt_stale" not in pq.read_table(stale).column("event_id").to_pylist()
    assert not list(out.rglob("*.partial"))
