"""Fixtures shared across test modules: a fresh embedded warehouse per module."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from payops.db import stop_embedded
from payops.settings import Settings

# Variables a test's warehouse must not inherit from the developer's shell.
OUTSIDE_SETTINGS = ("WAREHOUSE_URL", "APP_DATABASE_URL", "DAGSTER_HOME", "DAGSTER_PG_URL", "PAYOPS_TIMEZONE")


@contextmanager
def embedded_warehouse(home: Path, **env: str) -> Iterator[Settings]:
    """Settings for a fresh embedded Postgres under `home`; the process environment is restored after."""
    saved = dict(os.environ)
    for name in OUTSIDE_SETTINGS:
        os.environ.pop(name, None)
    os.environ.update({"PAYOPS_HOME": str(home), **env})
    settings = Settings.from_env()
    try:
        yield settings
    finally:
        stop_embedded(settings)
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="module")
def module_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    with embedded_warehouse(tmp_path_factory.mktemp("payops")) as settings:
        yield settings
