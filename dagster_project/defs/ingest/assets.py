"""Raw landing assets: Stripe events from the landing folder, and the platform's own tables."""

import dagster as dg

from dagster_project.defs.freshness import PAYOPS_FRESHNESS
from dagster_project.defs.resources import WarehouseResource
from ingest.app_tables import APP_TABLES, STRIPE_ONLY, copy_app_tables, stripe_only
from ingest.stripe_events import LoadResult, replay

REJECTIONS_LOGGED = 50


@dg.asset(
    key=["raw", "stripe_events"],
    group_name="ingest",
    kinds={"python", "postgres"},
    freshness_policy=PAYOPS_FRESHNESS,
    description="Stripe events replayed from PAYOPS_HOME/landing/stripe (new files only), one row per event id.",
)
def stripe_events(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    landing = warehouse.stripe_landing_dir
    with warehouse.refresh_lock(context.log):
        result = replay(warehouse.engine(), [landing], only_new_files=True) if landing.is_dir() else LoadResult()
    for rejection in result.rejections[:REJECTIONS_LOGGED]:
        context.log.warning(f"rejected {rejection.location}: {rejection.reason}")
    return dg.MaterializeResult(
        metadata={
            "files": result.files,
            "loaded": result.loaded,
            "duplicates": result.duplicates,
            "rejected": result.rejected,
            "landing_dir": dg.MetadataValue.path(str(landing)),
        }
    )


@dg.asset(
    key=["raw", "app_rows"],
    group_name="ingest",
    kinds={"python", "postgres"},
    freshness_policy=PAYOPS_FRESHNESS,
    description="The platform's tables copied incrementally by updated_at into raw.app_rows.",
)
def app_rows(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    app = warehouse.app_engine()
    if stripe_only(app):
        message = STRIPE_ONLY.format(tables=", ".join(APP_TABLES))
        context.log.info(message)
        return dg.MaterializeResult(metadata={"rows_changed": 0, "skipped": message})
    with warehouse.refresh_lock(context.log):
        copies = copy_app_tables(app, warehouse.engine())
    return dg.MaterializeResult(
        metadata={
            "rows_changed": sum(c.changed for c in copies),
            **{f"{c.table}_changed": c.changed for c in copies},
        }
    )
