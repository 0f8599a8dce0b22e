"""Run a request job in this process and SIGKILL it at one point of its Xero write: the
test hook for "the process died between the Xero call and the commit" (nothing in the
production code knows about it).

    python -m tests.jobs.crash_run '{"job": "export", "ids": [1, 2], "when": "after",
                                     "db_url": "...", "sandbox_url": "..."}'

`when` is `before` (killed as it is about to call Xero) or `after` (killed as soon as
Xero has answered, before the outcomes are committed). Exits only by the signal.
"""

from __future__ import annotations

import json
import os
import signal
import sys

import dagster as dg

from xero_pipelines.jobs import drafting, exporting
from xero_pipelines.jobs.draft import draft_run_config, xero_draft_job
from xero_pipelines.jobs.export import export_run_config, xero_export_job
from xero_pipelines.resources.crm import CrmDatabase
from xero_pipelines.resources.xero import XeroResource


def main(args: dict) -> None:
    module = exporting if args["job"] == "export" else drafting
    original = module.write_batch

    def write_then_die(*a, **kw):
        if args["when"] == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        original(*a, **kw)
        os.kill(os.getpid(), signal.SIGKILL)

    module.write_batch = write_then_die
    job, config = (
        (xero_export_job, export_run_config)
        if args["job"] == "export"
        else (xero_draft_job, draft_run_config)
    )
    url = args["sandbox_url"]
    xero = XeroResource(
        crm=CrmDatabase(url=args["db_url"]),
        client_id="sandbox",
        client_secret="sandbox",
        api_url=url,
        identity_url=url,
        login_url=url,
    )
    with dg.DagsterInstance.ephemeral() as instance:
        job.execute_in_process(
            run_config=config(args["ids"]), resources={"xero": xero}, instance=instance
        )
    sys.exit("the job finished: the hook never fired")


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
