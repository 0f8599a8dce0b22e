"""The tags a request run carries, so the UI answers "which requests, which account,
which organisation" without opening the database.

Lists of ids are ranges within Dagster's 63 characters ("101-150", then "+N more":
`domain.run_tags`); the run config and the job's output metadata hold them all. A tag
per account is not an option: the runs filter offers every tag key ever used, which would
then be one per account. So a run about one account or opportunity (one click in the
CRM, the usual case) also gets `xero_pipelines/crm_account_id` (or `opportunity_id`),
which the runs filter matches exactly; a request inside a batch is found from its row's
`run_id` (`xero-pipelines requests list --account ID`) or by reading the ranges.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from dagster._core.storage.tags import MAX_RUNTIME_SECONDS_TAG
from sqlalchemy import Engine, select

from xero_pipelines.db.mirrors import XeroOrganisationRow
from xero_pipelines.db.models import CrmOpportunity
from xero_pipelines.db.request_queue import ClaimedBatch, RequestTable
from xero_pipelines.domain.catalog import GROUP_TAG, REQUESTS_GROUP
from xero_pipelines.domain.run_tags import compact_ids, fit_text, the_only_id
from xero_pipelines.xero.tokens import current_connection

if TYPE_CHECKING:
    from xero_pipelines.sensors.request_sensor import RequestJob, RequestSensorSettings


def organisation_tags(engine: Engine) -> dict[str, str]:
    """The connected organisation as run tags: tenant id, name, and ShortCode once the
    import has mirrored the organisation."""
    with engine.connect() as conn:
        row = current_connection(conn)
        if row is None:
            return {}
        org = XeroOrganisationRow
        short_code = conn.execute(
            select(org.short_code).where(org.tenant_id == row.tenant_id)
        ).scalar()
    tags = {
        "xero_pipelines/xero_tenant_id": row.tenant_id,
        "xero_pipelines/xero_organisation": fit_text(row.tenant_name or ""),
    }
    if short_code:
        tags["xero_pipelines/xero_short_code"] = fit_text(short_code)
    return tags


def accounts_of_opportunities(engine: Engine, ids: Sequence[int | None]) -> dict[int, int]:
    """opportunity id -> its CRM account id, so draft runs are found by account too."""
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    o = CrmOpportunity.__table__
    with engine.connect() as conn:
        rows = conn.execute(select(o.c.id, o.c.account_id).where(o.c.id.in_(wanted)))
        return {opportunity: account for opportunity, account in rows}


def run_tags(
    spec: RequestTable,
    target: RequestJob,
    batch: ClaimedBatch,
    settings: RequestSensorSettings,
    organisation: Mapping[str, str] | None = None,
    account_ids: Sequence[int | None] | None = None,
) -> dict[str, str]:
    """What the UI shows of a run's requests, searchable by tag, and its time limit;
    `account_ids` (draft runs) are the CRM accounts of the batch's opportunities."""
    tags = {
        "xero_pipelines/request_table": spec.name,
        "xero_pipelines/request_ids": compact_ids(batch.request_ids),
        "xero_pipelines/requests": str(len(batch.request_ids)),
        f"xero_pipelines/{target.subject_tag}": compact_ids(batch.subject_ids),
        "xero_pipelines/attempt": str(max(batch.attempts)),
        MAX_RUNTIME_SECONDS_TAG: str(settings.max_runtime_seconds),
        GROUP_TAG: REQUESTS_GROUP,
        **(organisation or {}),
    }
    only = the_only_id(batch.subject_ids)
    if only is not None:
        tags[f"xero_pipelines/{target.single_subject_tag}"] = str(only)
    if account_ids is not None:
        tags["xero_pipelines/crm_account_ids"] = compact_ids(account_ids)
        account = the_only_id(account_ids)
        if account is not None:
            tags["xero_pipelines/crm_account_id"] = str(account)
    return tags
