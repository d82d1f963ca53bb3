"""The one freshness policy (ingest/freshness.py, written once in dbt_project.yml) as Dagster's FreshnessPolicy."""

import dagster as dg

from ingest.freshness import freshness_policy

PAYOPS_FRESHNESS = dg.FreshnessPolicy.time_window(fail_window=freshness_policy().error_after,
                                                  warn_window=freshness_policy().warn_after)
