"""The one freshness policy: how long after the last refresh the warehouse counts as stale.

It is written once, as two vars in dbt/dbt_project.yml (`freshness_warn_hours`, `freshness_error_hours`), because
dbt's source freshness must read it there. Dagster's freshness policy on raw and mart assets, the freshness asset
check and `payops health` read the same two numbers through `freshness_policy()`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from pathlib import Path

import yaml

DBT_PROJECT_FILE = Path(__file__).resolve().parent.parent / "dbt" / "dbt_project.yml"


@dataclass(frozen=True)
class Freshness:
    warn_after: timedelta
    """Older than this: a warning (one hourly refresh was missed)."""
    error_after: timedelta
    """Older than this: stale; health fails and the asset check fails."""

    def status(self, age: timedelta | None) -> str:
        """`ok`, `warn` or `error` for data this old; None (never refreshed) is an error."""
        if age is None or age > self.error_after:
            return "error"
        return "warn" if age > self.warn_after else "ok"


@cache
def freshness_policy() -> Freshness:
    variables = yaml.safe_load(DBT_PROJECT_FILE.read_text())["vars"]
    return Freshness(warn_after=timedelta(hours=variables["freshness_warn_hours"]),
                     error_after=timedelta(hours=variables["freshness_error_hours"]))
