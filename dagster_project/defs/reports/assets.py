"""One asset per report notebook, partitioned by month and downstream of the marts it reads.

papermill runs inside a plain asset rather than dagstermill: dagstermill rewrites the `parameters` cell, cannot
run in-process, and registers its own papermill translator for the whole process.
"""

import json
from datetime import timedelta

import dagster as dg

from dagster_project.defs.resources import WarehouseResource
from dagster_project.project import payops_dbt_project
from payops.reports import REPORTS, Report, ReportFailed, render

REPORT_MONTHS = dg.MonthlyPartitionsDefinition(start_date="2025-01-01", end_offset=1)
"""Months from January 2025 to the current one (end_offset=1: the month under way has its partition)."""

RERENDER_MONTHS_BACK = timedelta(days=62)
"""A refresh re-renders this month and the previous one: late refunds, disputes and failures land there. The
marts are not partitioned, so Dagster cannot see a change to an older month; render it with a backfill."""

RERENDER = (
    dg.AutomationCondition.in_latest_time_window(lookback_delta=RERENDER_MONTHS_BACK)
    & (dg.AutomationCondition.newly_missing() | dg.AutomationCondition.any_deps_updated()).since_last_handled()
    & ~dg.AutomationCondition.any_deps_missing()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
).with_label("eager for the last two months")


def built_marts() -> set[str]:
    """Names of the dbt models and seeds in the manifest: a finance mart becomes a dependency once it exists."""
    manifest = json.loads(payops_dbt_project().manifest_path.read_text())
    return {node["name"] for node in manifest["nodes"].values() if node["resource_type"] in ("model", "seed")}


def report_asset(report: Report, marts: set[str]) -> dg.AssetsDefinition:
    reads = [mart for mart in report.marts + report.finance_marts if mart in marts]

    @dg.asset(
        key=["reports", report.name],
        group_name="reports",
        kinds={"jupyter", "pandas"},
        partitions_def=REPORT_MONTHS,
        deps=[dg.AssetKey(["analytics", mart]) for mart in reads],
        automation_condition=RERENDER,
        description=f"{report.title}: reports/{report.notebook.name} rendered for the month by papermill into "
                    f"PAYOPS_HOME/reports/{report.name}/<YYYY-MM>.html, .ipynb and .json (live mode, every currency).",
    )
    def render_report(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        period = context.partition_key[:7]  # partition keys are the months' first days, 2026-06-01
        try:
            rendered = render(warehouse.settings(), report.name, period)
        except ReportFailed as exc:
            raise dg.Failure(description=str(exc)) from None
        return dg.MaterializeResult(metadata={
            "html": dg.MetadataValue.path(str(rendered.html)),
            "notebook": dg.MetadataValue.path(str(rendered.notebook)),
            "figures": dg.MetadataValue.json(rendered.figures),
            "render_seconds": round(rendered.seconds, 1),
        })

    return render_report


report_automation = dg.AutomationConditionSensorDefinition(
    "report_automation",
    target=dg.AssetSelection.groups("reports"),
    default_status=dg.DefaultSensorStatus.RUNNING,  # Dagster's default automation sensor starts stopped
    description="Re-renders this month's and last month's reports once a mart they read has been materialized.",
)


@dg.definitions
def report_assets() -> dg.Definitions:
    marts = built_marts()
    return dg.Definitions(assets=[report_asset(report, marts) for report in REPORTS.values()],
                          sensors=[report_automation])
