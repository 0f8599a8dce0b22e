"""`xero_draft_job`: the CRM's "Create Draft Invoice on Xero" / "Create Draft Quote on Xero".

The request sensor claims `pending` rows of `xero_draft_requests` and launches this job
with their ids (`draft_run_config`). The job answers each one (`done` with the Xero id,
number and a deep link, or `failed` with a sentence the CRM user can act on); see
`drafting.py` for the rules, and `common.py` for what Xero's failures do.
"""

# No `from __future__ import annotations`: Dagster reads the op's config annotation.
import warnings

import dagster as dg

from xero_pipelines.db.request_outcomes import DRAFT_REQUESTS
from xero_pipelines.domain.catalog import GROUP_TAG, OWNERS, REQUESTS_GROUP
from xero_pipelines.jobs.common import RequestBatchConfig, process, run_config
from xero_pipelines.jobs.drafting import draft_requests
from xero_pipelines.jobs.tags import XERO_REQUEST_TAGS
from xero_pipelines.resources.xero import XeroResource

DRAFT_OP = "process_draft_requests"


def draft_run_config(request_ids: list[int]) -> dict:
    """The run config a sensor sends to run `xero_draft_job` on these requests."""
    return run_config(DRAFT_OP, request_ids)


@dg.op(name=DRAFT_OP, out=dg.Out(dict, description="How many requests ended how"))
def process_draft_requests(
    context: dg.OpExecutionContext, config: RequestBatchConfig, xero: XeroResource
) -> dg.Output:
    """Create a sales invoice or a quote in Xero for each requested opportunity, then
    write each request's outcome."""
    engine = xero.engine()

    def work(ids: list[int], retried: set[int], outcomes) -> None:
        settings = xero.settings()
        tenant_id = xero.tenant_id
        draft_requests(engine, xero.get_client, tenant_id, settings, ids, retried, outcomes)

    return process(
        context,
        engine=engine,
        table=DRAFT_REQUESTS,
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
    def xero_draft_job() -> None:
        """Answers the CRM's draft invoice and quote requests named in the run config (one
        Xero call per 50 documents of a kind, plus look-ups only for retries)."""
        process_draft_requests()
