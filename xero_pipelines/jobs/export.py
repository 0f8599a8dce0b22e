"""`xero_export_job`: the CRM's "Export to Xero" and "Update Xero" buttons.

The request sensor claims `pending` rows of `xero_export_requests` and launches this job
with their ids (`export_run_config`). The job answers each one (`done` with the Xero
contact and its link, or `failed` with a sentence the CRM user can act on); see
`exporting.py` for the order of the rules, and `common.py` for what Xero's failures do.
"""

# No `from __future__ import annotations`: Dagster reads the op's config annotation.
import warnings

import dagster as dg

from xero_pipelines.db.request_outcomes import EXPORT_REQUESTS
from xero_pipelines.domain.catalog import GROUP_TAG, OWNERS, REQUESTS_GROUP
from xero_pipelines.jobs.common import RequestBatchConfig, process, run_config
from xero_pipelines.jobs.exporting import export_requests
from xero_pipelines.jobs.tags import XERO_REQUEST_TAGS
from xero_pipelines.resources.xero import XeroResource

EXPORT_OP = "process_export_requests"


def export_run_config(request_ids: list[int]) -> dict:
    """The run config a sensor sends to run `xero_export_job` on these requests."""
    return run_config(EXPORT_OP, request_ids)


@dg.op(name=EXPORT_OP, out=dg.Out(dict, description="How many requests ended how"))
def process_export_requests(
    context: dg.OpExecutionContext, config: RequestBatchConfig, xero: XeroResource
) -> dg.Output:
    """Export CRM accounts to Xero as contacts (or link the one that is already there), or
    push a linked account's details to its contact, then write each request's outcome."""
    engine = xero.engine()

    def work(ids: list[int], retried: set[int], outcomes) -> None:
        phone_field = xero.settings().phone_field
        tenant_id = xero.tenant_id
        export_requests(engine, xero.get_client, tenant_id, phone_field, ids, retried, outcomes)

    return process(
        context,
        engine=engine,
        table=EXPORT_REQUESTS,
        request_ids=config.request_ids,
        call_metadata=xero.call_metadata,
        work=work,
    )


# Dagster 1.13 calls owners on jobs a beta parameter: it would warn at every load.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", dg.BetaWarning)

    @dg.job(
        tags={**XERO_REQUEST_TAGS, GROUP_TAG: REQUESTS_GROUP},
        owners=list(OWNERS),
        executor_def=dg.in_process_executor,
    )
    def xero_export_job() -> None:
        """Answers the CRM's export and update requests named in the run config (at most one
        Xero call per 50 new contacts, one per 50 updates, and look-ups only for retries)."""
        process_export_requests()
