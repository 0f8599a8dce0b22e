"""A Dagster instance with the runs an operator looks at: an import, an export launched by
the request sensor, and a draft that Xero refused.

Everything goes through `defs` as the daemon runs it: the import job; then a tick of each
request sensor (`build_sensor_context` on the same instance) and, for each run it asks
for, its job with the run config and tags it asked for, the run key and the sensor's name
(the tags the daemon adds). The jobs run in this process on that instance, so the
webserver later reads the same runs, logs and materialisations a deployment would hold.
Resources are given explicitly, so the runs use this test's CRM and sandbox whatever
`defs` read from the environment when it was first imported.
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg
from dagster._core.storage.tags import RUN_KEY_TAG, SENSOR_NAME_TAG
from sqlalchemy import Engine, func, select, update

from tests.e2e.helpers import insert_requests, read_rows, sandbox_resources
from xero_pipelines.db.models import CrmOpportunityLine, XeroDraftRequest, XeroExportRequest

REFUSED_OPPORTUNITY = 2  # one of its lines gets a tax type Xero does not know


@dataclass(frozen=True)
class SensorRun:
    run_id: str
    sensor_tags: dict[str, str]  # what the sensor's RunRequest put on the run


@dataclass(frozen=True)
class UiRuns:
    import_run_id: str
    export: SensorRun
    draft: SensorRun
    refused_request_id: int
    refused_sentence: str  # the `error` written to the request row
    xero_said: str  # Xero's own words, inside that sentence


def sensor_tick_and_run(
    instance: dg.DagsterInstance, sensor_name: str, res: dict[str, dg.ConfigurableResource]
) -> SensorRun:
    """One tick of the sensor, which must ask for exactly one run, and that run."""
    from xero_pipelines import defs

    sensor = defs.resolve_sensor_def(sensor_name)
    result = sensor(dg.build_sensor_context(instance=instance, resources={"crm": res["crm"]}))
    [request] = result.run_requests or []
    tags = {**request.tags, RUN_KEY_TAG: request.run_key, SENSOR_NAME_TAG: sensor.name}
    run = defs.resolve_job_def(sensor.job_name).execute_in_process(
        run_config=request.run_config, instance=instance, tags=tags, resources=res
    )
    assert run.success, sensor_name
    return SensorRun(run.run_id, dict(request.tags))


def run_import(instance: dg.DagsterInstance, res: dict[str, dg.ConfigurableResource]) -> str:
    from xero_pipelines import defs

    job = defs.resolve_job_def("xero_import_job")
    imported = job.execute_in_process(instance=instance, resources=res)
    assert imported.success
    return imported.run_id


def refuse_a_line(engine: Engine, opportunity_id: int) -> None:
    """Give one line of the opportunity a tax type Xero does not know: only Xero can
    refuse it (the job checks accounts and currencies itself, not tax types)."""
    line = CrmOpportunityLine
    with engine.begin() as conn:
        first = conn.execute(
            select(func.min(line.id)).where(line.opportunity_id == opportunity_id)
        ).scalar_one()
        conn.execute(update(line).where(line.id == first).values(tax_type="BOGUS"))


def make_runs(
    instance: dg.DagsterInstance, engine: Engine, db_url: str, sandbox_url: str
) -> UiRuns:
    """The runs, on a connected organisation and a loaded CRM (see tests.e2e.helpers): the
    import (mirrors for the requests), an export of accounts 1-3, drafts for two of their
    opportunities (one refused by Xero), and the import again, as the schedule would run
    it, so the summaries and their checks cover the new links."""
    res = sandbox_resources(db_url, sandbox_url)
    run_import(instance, res)

    insert_requests(engine, XeroExportRequest, [{"crm_account_id": i} for i in (1, 2, 3)])
    export = sensor_tick_and_run(instance, "xero_export_request_sensor", res)
    assert {r.status for r in read_rows(engine, XeroExportRequest).values()} == {"done"}

    refuse_a_line(engine, REFUSED_OPPORTUNITY)
    rows = [{"opportunity_id": o, "revenue_account_code": "200"} for o in (1, REFUSED_OPPORTUNITY)]
    insert_requests(engine, XeroDraftRequest, rows)
    draft = sensor_tick_and_run(instance, "xero_draft_request_sensor", res)
    drafts = read_rows(engine, XeroDraftRequest)
    [refused] = [r for r in drafts.values() if r.opportunity_id == REFUSED_OPPORTUNITY]
    [good] = [r for r in drafts.values() if r.opportunity_id != REFUSED_OPPORTUNITY]
    assert (good.status, refused.status) == ("done", "failed"), (good.error, refused.error)
    prefix = "Xero refused the invoice: "
    assert refused.error.startswith(prefix), refused.error
    xero_said = refused.error.removeprefix(prefix)
    assert "BOGUS" in xero_said  # Xero's words about the line, not a check of our own

    import_run_id = run_import(instance, res)
    return UiRuns(import_run_id, export, draft, refused.id, refused.error, xero_said)
