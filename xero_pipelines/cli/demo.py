"""`xero-pipelines demo`: the whole integration end to end, offline, in one command.

It starts the sandbox on a free loopback port, builds a sample CRM in a demo folder of
its own (so it never touches a real connection), connects through the real OAuth2 flow
(playing the user's browser), runs the import job and the request sensors and jobs
through `defs` on a Dagster instance of its own, prints what the CRM's account page and
buttons would show, rides out an expired token and a 503 storm, then disconnects.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
import dagster as dg
import requests
from sqlalchemy import Engine, select

from xero_pipelines.cli import demo_flows as flows
from xero_pipelines.cli.sandbox import load_sandbox
from xero_pipelines.db import create_db_engine, pipelines_home, upgrade
from xero_pipelines.db.mirrors import XeroOrganisationRow
from xero_pipelines.db.sample import load_sample_crm
from xero_pipelines.resources.xero import CrmDatabase, XeroResource
from xero_pipelines.xero import connection
from xero_pipelines.xero.client import XeroClient

ENV_KEYS = (
    "XERO_PIPELINES_HOME",
    "CRM_DATABASE_URL",
    "XERO_CLIENT_ID",
    "XERO_CLIENT_SECRET",
    "XERO_API_URL",
    "XERO_IDENTITY_URL",
    "XERO_LOGIN_URL",
    "XERO_TOKEN_KEY",
)


class _Browser:
    """Follows the authorize URL the flow prints, as the user's browser would."""

    def __call__(self, line: str) -> None:
        if line.startswith("http"):
            click.echo(f"   The demo opens the authorize URL itself: {line.split('?')[0]}?...")
            threading.Thread(target=requests.get, args=(line,), kwargs={"timeout": 30}).start()


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in ENV_KEYS}
    for key in ENV_KEYS:
        os.environ.pop(key, None)
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _count(client: XeroClient, collection: str, params: dict | None = None) -> int:
    return sum(len(page) for page in client.iter_pages(collection, collection, params))


@click.command()
@click.option("--contacts", default=300, show_default=True, help="Xero contacts to seed.")
@click.option("--invoices", default=3000, show_default=True, help="Xero invoices to seed.")
@click.option("--accounts", default=60, show_default=True, help="Sample CRM accounts.")
@click.option("--seed", default=7, show_default=True, help="Same seed, same demo.")
def demo(contacts: int, invoices: int, accounts: int, seed: int) -> None:
    """Run the integration end to end against the offline Xero sandbox."""
    sandbox = load_sandbox()  # first: without it there is no demo, and nothing to clean up
    logging.basicConfig(format="   [xero client] %(message)s", level=logging.WARNING)
    # Dagster's notes on its own beta parameters are for the code's authors, not this demo.
    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    warnings.filterwarnings("ignore", category=dg.PreviewWarning)
    folder = pipelines_home() / "demo"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    click.echo(f"Demo state in {folder} (your own connection and data are not touched).")

    with sandbox.SandboxServer(
        contacts=contacts,
        invoices=invoices,
        quotes=contacts // 5,
        credit_notes=invoices // 20,
        seed=seed,
    ) as sb:
        click.echo(
            f"1. Xero sandbox at {sb.url}: {contacts} contacts, {invoices} invoices, "
            f"{invoices // 20} credit notes."
        )
        env = {
            "XERO_PIPELINES_HOME": str(folder),
            "CRM_DATABASE_URL": f"sqlite:///{folder / 'crm.sqlite'}",
            "XERO_CLIENT_ID": "sandbox",
            "XERO_CLIENT_SECRET": "sandbox",
            "XERO_API_URL": sb.url,
            "XERO_IDENTITY_URL": sb.url,
            "XERO_LOGIN_URL": sb.url,
        }
        with _environment(env):
            _run(sb.url, folder, accounts, seed)
    click.echo("Done. `xero-pipelines sandbox` keeps a sandbox running; see README.md.")


def _run(sandbox_url: str, folder: Path, accounts: int, seed: int) -> None:
    engine = create_db_engine()
    try:
        revision = upgrade(engine)
        sample = load_sample_crm(engine, accounts, seed)
        click.echo(
            f"2. CRM database migrated (revision {revision}): {len(sample.accounts)} accounts, "
            f"{len(sample.contacts)} contacts, {len(sample.opportunities)} opportunities."
        )

        click.echo("3. Connecting to Xero with OAuth2 (authorization code + PKCE):")
        result = connection.connect(engine, port=0, timeout=30, open_browser=False, echo=_Browser())
        click.echo(f"   Connected to {result.tenant_name} (tenant {result.tenant_id}).")

        with dg.DagsterInstance.ephemeral() as instance:
            _import_and_requests(engine, instance)

        xero = XeroResource(
            crm=CrmDatabase(),
            client_id=os.environ["XERO_CLIENT_ID"],
            client_secret=os.environ["XERO_CLIENT_SECRET"],
            api_url=sandbox_url,
            identity_url=sandbox_url,
            login_url=sandbox_url,
        )
        _ride_out_faults(sandbox_url, xero.get_client())

        settings = xero.settings().as_text()
        click.echo("9. Integration settings: " + ", ".join(f"{k}={v}" for k, v in settings.items()))
        state = connection.status(engine)
        click.echo(
            f"10. Status: {state.state}; token expires {state.access_token_expires_at:%H:%M:%S} "
            f"UTC; scopes: {' '.join(state.scopes)}."
        )
        gone = connection.disconnect(engine)
        remote = (
            "grant revoked and connection removed in Xero"
            if gone.remote_removed
            else ("Xero could not confirm the removal")
        )
        click.echo(f"11. Disconnected from {gone.tenant_name}: {remote}; local tokens wiped.")
    finally:
        engine.dispose()


def _import_and_requests(engine: Engine, instance: dg.DagsterInstance) -> None:
    first = flows.run_import(instance)
    rows = ", ".join(f"{n} {asset.removeprefix('xero_')}" for asset, n in first.rows.items())
    click.echo(f"4. xero_import_job: mirrored {rows} in {first.calls} Xero calls.")

    rules = flows.known_customers(engine)
    second = flows.run_import(instance)
    links = ", ".join(f"{n} by {rule}" for rule, n in sorted(flows.link_counts(engine).items()))
    click.echo(
        f"5. The CRM already knew {len(rules)} Xero customers ({', '.join(rules)}); the "
        f"import again (nothing changed in Xero: {second.calls} calls) linked {links}."
    )
    click.echo("6. The Xero panel of those CRM accounts (xero_account_summaries):")
    flows.print_summaries(engine)

    base = engine.connect().execute(select(XeroOrganisationRow.base_currency)).scalar_one()
    export_id, draft_id = flows.insert_requests(engine, base)
    click.echo(
        f"7. The CRM inserted export request {export_id} and draft request {draft_id}; "
        "the request sensors launched:"
    )
    runs = flows.process_requests(instance, CrmDatabase())
    click.echo(f"   {runs} run(s).")
    flows.print_request_outcomes(engine, export_id, draft_id)


def _ride_out_faults(sandbox_url: str, client: XeroClient) -> None:
    click.echo("8. Injecting an expired token and three 503s, then reading again:")
    requests.post(f"{sandbox_url}/_sandbox/faults", json={"expire_tokens": True}, timeout=10)
    requests.post(f"{sandbox_url}/_sandbox/faults", json={"status": 503, "count": 3}, timeout=10)
    again = _count(client, "Contacts", {"where": "IsCustomer==true"})
    meta = client.metadata()
    click.echo(
        f"   Read {again} customers again with "
        f"{meta['xero_token_refreshes']} token refresh(es) and {meta['xero_retries']} "
        f"retries; {meta['xero_calls']} API calls in all, "
        f"{meta.get('xero_day_remaining')} left today."
    )
