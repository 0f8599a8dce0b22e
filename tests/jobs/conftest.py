"""A connected pipeline for the request jobs: a migrated CRM database (SQLite and
PostgreSQL), the sandbox connected through the real authorization flow, the import's
mirror assets run against it, request rows claimed through the sensors' real queue, and
the jobs run in a real Dagster instance. The sandbox is read back over raw HTTP, not
through the production client, so the client cannot vouch for itself."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import requests
from sqlalchemy import Engine, insert, select

from tests.assets.conftest import (  # noqa: F401 (fixtures shared with the asset tests)
    connected_tenant,
    fast_retries,
    make_xero_resource,
)
from tests.fixtures.sandbox import SandboxClient
from xero_pipelines.db.models import (
    CrmAccount,
    CrmContact,
    CrmOpportunity,
    CrmOpportunityLine,
    XeroAccountLink,
    XeroDraftRequest,
    XeroExportRequest,
)
from xero_pipelines.db.request_queue import (
    DRAFT_REQUESTS,
    EXPORT_REQUESTS,
    claim_pending,
    queued_rows,
    requeue,
)
from xero_pipelines.jobs.draft import draft_run_config, xero_draft_job
from xero_pipelines.jobs.export import export_run_config, xero_export_job
from xero_pipelines.resources.crm import CrmDatabase
from xero_pipelines.resources.xero import XeroResource

API = "/api.xro/2.0/"
ROOT = Path(__file__).resolve().parents[2]
_ids = itertools.count(1000)


@dataclass
class JobEnv:
    sandbox: SandboxClient
    engine: Engine
    db_url: str
    tenant_id: str
    instance: dg.DagsterInstance
    _headers: dict[str, str] = field(default_factory=dict)

    # ---- resources and runs ----

    def resource(self) -> XeroResource:
        """A fresh resource per run, as a deployment gets one per run process."""
        url = self.sandbox.url
        return XeroResource(
            crm=CrmDatabase(url=self.db_url),
            client_id="sandbox",
            client_secret="sandbox",
            api_url=url,
            identity_url=url,
            login_url=url,
            timeout=20,
        )

    def sync_mirrors(self) -> None:
        """Run the import's mirror assets against the sandbox, as the schedule would."""
        from xero_pipelines.assets.xero import (
            xero_contacts,
            xero_organisation,
            xero_revenue_accounts,
        )

        xero = self.resource()
        result = dg.materialize(
            [xero_contacts, xero_revenue_accounts, xero_organisation],
            resources={"crm": xero.crm, "xero": xero},
            instance=self.instance,
        )
        assert result.success

    def run_export(self, ids: list[int]) -> dg.ExecuteInProcessResult:
        return xero_export_job.execute_in_process(
            run_config=export_run_config(ids),
            resources={"xero": self.resource()},
            instance=self.instance,
            raise_on_error=False,
        )

    def run_draft(self, ids: list[int]) -> dg.ExecuteInProcessResult:
        return xero_draft_job.execute_in_process(
            run_config=draft_run_config(ids),
            resources={"xero": self.resource()},
            instance=self.instance,
            raise_on_error=False,
        )

    # ---- CRM rows ----

    def _insert(self, table, values: dict[str, Any]) -> int:
        values = {"id": next(_ids), **values}
        with self.engine.begin() as conn:
            conn.execute(insert(table.__table__).values(**values))
        return values["id"]

    def account(self, name: str | None = None, **values: Any) -> int:
        account_id = next(_ids)
        values.setdefault("name", name if name is not None else f"Account {account_id}")
        return self._insert(CrmAccount, {"id": account_id, **values})

    def contact(self, account_id: int, **values: Any) -> int:
        return self._insert(CrmContact, {"account_id": account_id, **values})

    def opportunity(self, account_id: int, lines: Iterable[dict] = (), **values: Any) -> int:
        opportunity_id = self._insert(CrmOpportunity, {"account_id": account_id, **values})
        for line in lines:
            self._insert(CrmOpportunityLine, {"opportunity_id": opportunity_id, **line})
        return opportunity_id

    def link(self, account_id: int, contact_id: str, matched_by: str = "import") -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(XeroAccountLink.__table__).values(
                    crm_account_id=account_id, xero_contact_id=contact_id, matched_by=matched_by
                )
            )

    # ---- requests, as the CRM inserts them and the sensor claims them ----

    def export_requests(self, *rows: dict[str, Any]) -> list[int]:
        ids = [self._insert(XeroExportRequest, row) for row in rows]
        return self._claim(EXPORT_REQUESTS, ids)

    def draft_requests(self, *rows: dict[str, Any]) -> list[int]:
        ids = [self._insert(XeroDraftRequest, row) for row in rows]
        return self._claim(DRAFT_REQUESTS, ids)

    def _claim(self, spec, ids: list[int]) -> list[int]:
        batches = claim_pending(self.engine, spec, batch_size=1000, max_batches=10)
        claimed = sorted(i for batch in batches for i in batch.request_ids)
        assert set(ids) <= set(claimed)
        return ids

    def requests(self, model) -> dict[int, Any]:
        t = model.__table__
        with self.engine.connect() as conn:
            return {row.id: row for row in conn.execute(select(t))}

    def links(self) -> dict[int, tuple[str, str]]:
        t = XeroAccountLink.__table__
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.c.crm_account_id, t.c.xero_contact_id, t.c.matched_by))
            return {a: (c, by) for a, c, by in rows}

    def crash(self, job: str, ids: list[int], when: str) -> None:
        """Run the job in a child process that is SIGKILLed before or right after its Xero
        write (`crash_run.py`), as a machine or a daemon dying mid-run."""
        args = {
            "job": job,
            "ids": ids,
            "when": when,
            "db_url": self.db_url,
            "sandbox_url": self.sandbox.url,
        }
        proc = subprocess.run(
            [sys.executable, "-m", "tests.jobs.crash_run", json.dumps(args)],
            cwd=ROOT,
            env=dict(os.environ),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]

    def requeue_as_the_sensor_does(self, spec) -> None:
        """The sensor's answer to a run that died: its queued rows back to `pending`, then
        claimed again (next attempt) for a new run."""
        rows = queued_rows(self.engine, spec)
        requeue(self.engine, spec, rows, max_attempts=3, failed_sentence="gave up")
        claim_pending(self.engine, spec, batch_size=1000, max_batches=10)

    # ---- the sandbox over raw HTTP ----

    def headers(self) -> dict[str, str]:
        if not self._headers:
            self._headers = self.sandbox.connect().headers()
        return self._headers

    def xero_get(self, path: str, **params: Any) -> dict[str, Any]:
        r = requests.get(
            self.sandbox.url + API + path, headers=self.headers(), params=params, timeout=30
        )
        r.raise_for_status()
        return json.loads(r.text, parse_float=Decimal)  # money stays exact

    def xero_put(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._write("PUT", path, body)

    def xero_post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._write("POST", path, body)

    def _write(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        r = requests.request(
            method, self.sandbox.url + API + path, headers=self.headers(), json=body, timeout=30
        )
        assert r.status_code == 200, r.text
        return r.json()

    def xero_contacts(self, **params: Any) -> list[dict[str, Any]]:
        return self.xero_get("Contacts", includeArchived="true", **params)["Contacts"]

    def calls(self) -> dict[str, int]:
        """Accounting calls served so far, by method and path template."""
        return {k: v for k, v in self.sandbox.stats().items() if k.split(" ")[1].startswith(API)}


def calls_between(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}


def output_metadata(result: dg.ExecuteInProcessResult, op: str) -> dict[str, Any]:
    event = next(
        e
        for e in result.all_node_events
        if e.is_successful_output and e.step_key == op  # type: ignore[union-attr]
    )
    return {k: v.value for k, v in event.event_specific_data.metadata.items()}


@pytest.fixture
def env(sandbox, db_url, db_engine, connected_tenant) -> JobEnv:  # noqa: F811
    """The asset tests' connection (`connected_tenant`), and one Dagster instance."""
    with dg.DagsterInstance.ephemeral() as instance:
        yield JobEnv(sandbox, db_engine, db_url, connected_tenant, instance)
