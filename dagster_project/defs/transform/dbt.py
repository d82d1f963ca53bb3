"""The dbt project as Dagster assets: staging, intermediate and marts in schema `analytics`."""


import os
from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from dagster_project.defs.resources import WarehouseResource
from dagster_project.environment import DBT_PROJECT_DIR, DBT_REFRESH_ARGS
from payops.db import dbt_env

MART_FRESHNESS = dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=6), warn_window=timedelta(hours=2))

payops_dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
payops_dbt_project.prepare_if_dev()


class PayopsDbtTranslator(DagsterDbtTranslator):
    """Keys name the table each asset is: raw.<table> for sources (the ingest assets), analytics.<model>."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return dg.AssetKey([dbt_resource_props["schema"], dbt_resource_props["identifier"]])
        return dg.AssetKey(["analytics", dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return "transform"

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        node = manifest["nodes"].get(unique_id, {})
        if node.get("resource_type") == "model" and "marts" in node.get("fqn", []):
            # Dashboards read the marts: an hourly refresh that stops for two hours is worth a warning.
            return spec.replace_attributes(freshness_policy=MART_FRESHNESS)
        return spec


@dbt_assets(
    manifest=payops_dbt_project.manifest_path,
    project=payops_dbt_project,
    dagster_dbt_translator=PayopsDbtTranslator(),
)
def payops_dbt_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
) -> Iterator[Any]:
    # dbt runs as a subprocess that inherits this environment; its profile reads PAYOPS_PG_*.
    os.environ.update(dbt_env(warehouse.settings()))
    with warehouse.refresh_lock(context.log):
        yield from dbt.cli(list(DBT_REFRESH_ARGS), context=context).stream()
