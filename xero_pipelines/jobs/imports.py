"""`xero_import_job`, its hourly schedule, and the freshness check that follows it.

The job materialises every asset of the import (the Xero mirrors, the CRM accounts, the
link table and the per-account summaries); Dagster runs downstream assets after their
upstream ones in the same run; where its steps execute (this process, or Celery workers)
is `XERO_PIPELINES_EXECUTOR`'s choice (`jobs/executors.py`). The schedule's cron comes
from `XERO_IMPORT_CRON` (default hourly) and is on by default.

`xero_account_summaries` is what the CRM shows, so it carries a freshness check that
warns once its last materialisation is older than twice the schedule's interval (two
missed imports). An import that does not happen cannot run that check, so
`xero_summaries_freshness_sensor` (Dagster's `build_sensor_for_freshness_checks`) runs it
when it could have turned stale, and again after a new materialisation once it warned;
it is left out of the import job, where it could run before the summaries it judges.
Dagster 1.13 also offers `FreshnessPolicy` on the asset, but that needs the instance's
freshness daemon (`freshness: enabled` in every dagster.yaml and the Helm values) and
shows a state rather than a check; this works on any instance.
"""

from __future__ import annotations

import os
import warnings
from datetime import timedelta

import dagster as dg
from dagster._utils.schedules import get_smallest_cron_interval

from xero_pipelines.domain.catalog import GROUP_TAG, INTEGRATION_GROUP, OWNERS
from xero_pipelines.jobs.executors import import_executor
from xero_pipelines.jobs.tags import XERO_IMPORT_TAGS

IMPORT_GROUPS = ("xero", "crm", "integration")
DEFAULT_IMPORT_CRON = "0 * * * *"
SUMMARIES = dg.AssetKey("xero_account_summaries")


def import_cron() -> str:
    return os.environ.get("XERO_IMPORT_CRON") or DEFAULT_IMPORT_CRON


def freshness_window(cron: str) -> timedelta:
    """Twice the schedule's interval (its smallest, for an irregular cron)."""
    return 2 * get_smallest_cron_interval(cron)


# Dagster 1.13 calls owners on jobs, schedules and sensors a beta parameter, and its
# freshness check builders "superseded" (see above for why they are used): both would
# warn at every load, which tells an operator nothing.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", dg.BetaWarning)
    warnings.simplefilter("ignore", dg.SupersessionWarning)

    [summaries_freshness_check] = dg.build_last_update_freshness_checks(
        assets=[SUMMARIES],
        lower_bound_delta=freshness_window(import_cron()),
        severity=dg.AssetCheckSeverity.WARN,
    )
    _freshness_sensor = dg.build_sensor_for_freshness_checks(
        freshness_checks=[summaries_freshness_check],
        name="xero_summaries_freshness_sensor_inner",
    )

    xero_import_job = dg.define_asset_job(
        "xero_import_job",
        selection=dg.AssetSelection.groups(*IMPORT_GROUPS)
        - dg.AssetSelection.checks(summaries_freshness_check),
        description=(
            "Mirror Xero (contacts, sales invoices, credit notes, revenue accounts, the "
            "organisation), read the CRM's accounts, link them to Xero contacts and compute "
            "each linked account's financial summary. Costs one Xero call per page of 1,000 "
            "records per endpoint plus a few; a run where nothing changed, one call per "
            "endpoint."
        ),
        tags=XERO_IMPORT_TAGS,
        owners=list(OWNERS),
        # In the run's process by default; with XERO_PIPELINES_EXECUTOR=celery each step is
        # a Celery task, so the five mirrors run at once on several workers
        # (docs/celery.md). Xero's 5 calls in flight per organisation still hold there:
        # each worker's pacer spaces its own calls, and every call holds one of the
        # organisation's call slots in the CRM database, which all workers share
        # (xero/call_slots.py).
        executor_def=import_executor(),
    )

    xero_import_schedule = dg.ScheduleDefinition(
        name="xero_import_schedule",
        job=xero_import_job,
        cron_schedule=import_cron(),
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=(
            "Runs xero_import_job; hourly unless XERO_IMPORT_CRON says otherwise. A run "
            "costs one Xero call per endpoint when nothing changed, plus one per 1,000 "
            "changed records."
        ),
        owners=list(OWNERS),
        tags={GROUP_TAG: INTEGRATION_GROUP},
    )

    @dg.sensor(
        name="xero_summaries_freshness_sensor",
        asset_selection=dg.AssetSelection.checks(summaries_freshness_check),
        minimum_interval_seconds=300,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Runs the freshness check of xero_account_summaries when it could have turned "
            "stale: it warns once the last import is older than twice the schedule's "
            "interval. The check reads Dagster's event log only: no Xero call."
        ),
        owners=list(OWNERS),
        tags={GROUP_TAG: INTEGRATION_GROUP},
    )
    def xero_summaries_freshness_sensor(context: dg.SensorEvaluationContext):
        """Dagster's own freshness sensor, under a name and description of ours."""
        return _freshness_sensor(context)
