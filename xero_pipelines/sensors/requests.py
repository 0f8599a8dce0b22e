"""`xero_export_request_sensor` and `xero_draft_request_sensor`: the CRM's buttons, picked up.

Each watches one request table and launches its job for batches of `pending` rows (see
`request_sensor.py` for a tick, `db/request_queue.py` for the queue). On by default,
every `XERO_REQUEST_SENSOR_INTERVAL` seconds (30); `XERO_REQUEST_BATCH_SIZE` requests a
run (50), `XERO_REQUEST_MAX_ATTEMPTS` launches before a request fails (3).
"""

from __future__ import annotations

from xero_pipelines.db.request_queue import DRAFT_REQUESTS, EXPORT_REQUESTS
from xero_pipelines.jobs.draft import draft_run_config, xero_draft_job
from xero_pipelines.jobs.export import export_run_config, xero_export_job
from xero_pipelines.sensors.request_sensor import RequestJob, request_sensor

EXPORT_TARGET = RequestJob(xero_export_job, export_run_config, "crm_account_ids")
DRAFT_TARGET = RequestJob(xero_draft_job, draft_run_config, "opportunity_ids")

xero_export_request_sensor = request_sensor(
    "xero_export_request_sensor",
    EXPORT_REQUESTS,
    EXPORT_TARGET,
    description=(
        "Launches xero_export_job for pending rows of xero_export_requests (Export to Xero, "
        "Update Xero), a batch per run; requeues rows whose run failed, was canceled or "
        "never started. Never calls Xero."
    ),
)

xero_draft_request_sensor = request_sensor(
    "xero_draft_request_sensor",
    DRAFT_REQUESTS,
    DRAFT_TARGET,
    description=(
        "Launches xero_draft_job for pending rows of xero_draft_requests (Create Draft "
        "Invoice/Quote on Xero), a batch per run; requeues rows whose run failed, was "
        "canceled or never started. Never calls Xero."
    ),
)
