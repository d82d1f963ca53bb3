"""Compliance exports as a monthly partitioned asset: the same files `payops export compliance` writes."""

# No `from __future__ import annotations`: Dagster reads the context parameter's annotation at definition time.
from datetime import timedelta

import dagster as dg

from dagster_project.defs.resources import WarehouseResource
from exports.compliance import ExportRequest, export_and_announce
from exports.datasets import DATASETS

EXPORTED_MARTS = ["fct_charges", "fct_refunds", "fct_disputes", "reconciliation_exceptions"]


@dg.asset(
    key=["exports", "compliance"],
    group_name="exports",
    kinds={"python", "parquet", "csv"},
    partitions_def=dg.MonthlyPartitionsDefinition(start_date="2025-01-01"),
    deps=[dg.AssetKey(["analytics", mart]) for mart in EXPORTED_MARTS],
    description="A month's compliance export (CSV, Parquet and a signed manifest; personal data as keyed hashes) "
                "under PAYOPS_HOME/exports/compliance/<YYYY-MM>. Needs PAYOPS_EXPORT_KEY.",
)
def compliance_export(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    settings = warehouse.settings()
    window = context.partition_time_window
    out_dir = settings.home / "exports" / "compliance" / context.partition_key[:7]
    # The window's end is the next month's first instant; the export's period names its last day.
    request = ExportRequest(start=window.start.date(), end=(window.end - timedelta(days=1)).date(), out_dir=out_dir,
                            replace=True, requested_by=f"dagster:run {context.run.run_id}")
    result = export_and_announce(warehouse.engine(), settings, request)
    return dg.MaterializeResult(metadata={
        "folder": dg.MetadataValue.path(str(result.out_dir)),
        **{f"{d.name}_rows": result.files[f"{d.name}.csv"]["rows"] for d in DATASETS},
    })
