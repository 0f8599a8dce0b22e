"""`xero_import_job` and its hourly schedule: the scheduled import of issue 8.

The job materialises every asset of the import (the Xero mirrors, the CRM accounts, the
link table and the per-account summaries); Dagster runs downstream assets after their
upstream ones in the same run; where its steps execute (this process, or Celery workers)
is `XERO_PIPELINES_EXECUTOR`'s choice (`jobs/executors.py`). The schedule's cron comes
from `XERO_IMPORT_CRON` (default hourly) and is on by default.
"""

from __future__ import annotations

import os

import dagster as dg

from xero_pipelines.jobs.executors import import_executor
from xero_pipelines.jobs.tags import XERO_IMPORT_TAGS

IMPORT_GROUPS = ("xero", "crm", "integration")
DEFAULT_IMPORT_CRON = "0 * * * *"

xero_import_job = dg.define_asset_job(
    "xero_import_job",
    selection=dg.AssetSelection.groups(*IMPORT_GROUPS),
    description=(
        "Mirror Xero (contacts, sales invoices, credit notes, revenue accounts, the "
        "organisation), read the CRM's accounts, link them to Xero contacts and compute "
        "each linked account's financial summary. Costs one Xero call per page of 1,000 "
        "records per endpoint plus a few; a run where nothing changed, one call per endpoint."
    ),
    tags=XERO_IMPORT_TAGS,
    # In the run's process by default; with XERO_PIPELINES_EXECUTOR=celery each step is a
    # Celery task, so the five mirrors run at once on several workers (docs/celery.md).
    # Xero's 5 calls in flight per organisation still hold there: each worker's pacer
    # spaces its own calls, and every call holds one of the organisation's call slots in
    # the CRM database, which all workers share (xero/call_slots.py).
    executor_def=import_executor(),
)

xero_import_schedule = dg.ScheduleDefinition(
    name="xero_import_schedule",
    job=xero_import_job,
    cron_schedule=os.environ.get("XERO_IMPORT_CRON") or DEFAULT_IMPORT_CRON,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Runs the Xero import; hourly unless XERO_IMPORT_CRON says otherwise.",
)
