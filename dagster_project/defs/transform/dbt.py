"""The dbt project as Dagster assets: staging, intermediate and marts in schema `analytics`."""

import os
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from dagster_project.defs.freshness import PAYOPS_FRESHNESS
from dagster_project.defs.resources import WarehouseResource
from dagster_project.project import DBT_FULL_BUILD_ARGS, DBT_REFRESH_ARGS, payops_dbt_project
from ingest.refreshes import record_refresh, summarize_run_results
from payops.db import dbt_env


class PayopsDbtTranslator(DagsterDbtTranslator):
    """Keys name the table each asset is: raw.<table> for sources (the ingest assets), analytics.<model>."""

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        if props["resource_type"] == "source":
            return spec.replace_attributes(key=dg.AssetKey([props["schema"], props["identifier"]]))
        is_mart = props["resource_type"] == "model" and "marts" in props.get("fqn", [])
        return spec.replace_attributes(
            key=dg.AssetKey(["analytics", props["name"]]),
            group_name="transform",
            # Models follow their sources: when the processing job lands new state, the marts are rebuilt.
            automation_condition=dg.AutomationCondition.eager(),
            # Dashboards read the marts: they carry the one freshness policy, as the raw assets do.
            freshness_policy=PAYOPS_FRESHNESS if is_mart else spec.freshness_policy,
        )


class DbtBuildConfig(dg.Config):
    full_build: bool = False
    """The nightly build: every model from scratch (--full-refresh) and every dbt test, unit tests included."""


@dbt_assets(
    manifest=payops_dbt_project().manifest_path,
    project=payops_dbt_project(),
    dagster_dbt_translator=PayopsDbtTranslator(),
)
def payops_dbt_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource, config: DbtBuildConfig
) -> Iterator[Any]:
    # dbt runs as a subprocess that inherits this environment; its profile reads PAYOPS_PG_*.
    os.environ.update(dbt_env(warehouse.settings()))
    with warehouse.refresh_lock(context.log):
        started_at = datetime.now(UTC)
        invocation = dbt.cli(list(DBT_FULL_BUILD_ARGS if config.full_build else DBT_REFRESH_ARGS), context=context,
                             raise_on_error=False)
        yield from invocation.stream()
        summary = summarize_run_results(invocation.get_artifact("run_results.json"))
        succeeded = invocation.is_successful()
        # Recorded even when dbt failed: `payops health` reports the last build's failed tests from here.
        record_refresh(warehouse.engine(), run_id=context.run.run_id, full_build=config.full_build,
                       started_at=started_at, succeeded=succeeded, summary=summary)
        if not succeeded:
            raise dg.Failure(f"dbt build failed: {', '.join(summary.failures[:10])}",
                             metadata={"tests_failed": summary.tests_failed, "failed_nodes": len(summary.failures)})
