"""Incremental marts (fct_charges, fct_refunds) give the same rows as a full refresh, after late and
out-of-order events: build on part of the events, load the rest (old `created`, new arrival), build
incrementally, then compare with `dbt build --full-refresh`."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa

from conftest import embedded_warehouse

DBT_DIR = Path(__file__).resolve().parents[1] / "dbt"
DBT = Path(sys.executable).with_name("dbt")
INCREMENTAL_MARTS = ("fct_charges", "fct_refunds")
HELD_BACK_EVERY = 4
"""Every 4th event arrives only after the first build: refunds of old charges, states older than the
newest one already stored, and charges never seen before."""


def dbt(settings, target_path: Path, *args: str) -> None:
    from payops.db import dbt_env

    env = {**os.environ, **dbt_env(settings)}
    result = subprocess.run(
        [str(DBT), *args, "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR),
         "--target-path", str(target_path), "--log-path", str(target_path / "logs")],
        env=env, capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:]


def snapshot(engine: sa.Engine) -> dict[str, set[tuple]]:
    with engine.connect() as conn:
        return {mart: {tuple(row) for row in conn.execute(sa.text(f"select * from analytics.{mart}"))}
                for mart in INCREMENTAL_MARTS}


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory):
    with embedded_warehouse(tmp_path_factory.mktemp("incremental"), PAYOPS_TIMEZONE="America/Sao_Paulo") as settings:
        yield settings


def test_an_incremental_build_after_late_events_equals_a_full_refresh(warehouse, tmp_path):
    from demo.generate import generate_demo_data
    from ingest.stripe_events import load_events
    from payops.db import ready_engine

    engine = ready_engine(warehouse)
    demo = generate_demo_data(warehouse, days=20, students=40, seed=5, end=date(2026, 6, 30), progress=False,
                              out_dir=tmp_path / "events", write_app=False)
    events: dict[str, bytes] = {}
    for path in sorted(demo.out_dir.rglob("*.jsonl")):
        for line in path.read_bytes().splitlines():
            if line:
                events.setdefault(orjson.loads(line)["id"], line)
    ordered = sorted(events.items(), key=lambda item: orjson.loads(item[1])["created"])
    early = [item for number, item in enumerate(ordered) if number % HELD_BACK_EVERY]
    late = [item for number, item in enumerate(ordered) if not number % HELD_BACK_EVERY]

    load_events(engine, early, source="replay")
    dbt(warehouse, tmp_path / "target", "build")
    before = snapshot(engine)

    load_events(engine, late, source="replay")
    dbt(warehouse, tmp_path / "target", "build")
    incremental = snapshot(engine)

    dbt(warehouse, tmp_path / "target", "build", "--full-refresh")
    full = snapshot(engine)

    for mart in INCREMENTAL_MARTS:
        assert incremental[mart] != before[mart], f"the late events should change {mart}"
        assert incremental[mart] == full[mart], mart
