"""`XeroResource` in real Dagster runs against the sandbox: the client works, a lost
connection fails the run fast, and neither tokens nor the client secret reach the event
log, the run config or the job and plan snapshots."""

import logging
import threading
from dataclasses import replace

import pytest
from cryptography.fernet import Fernet
from dagster import AssetExecutionContext, Definitions, EnvVar, asset, materialize
from dagster._core.test_utils import instance_for_test
from dagster_shared.serdes import serialize_value

from tests.fixtures.sandbox import DISTINCTIVE_SECRET as SECRET
from tests.fixtures.sandbox import SandboxClient
from tests.xero.connect_helpers import connect_flow, sandbox_app, stored_tokens
from xero_pipelines.definitions import build_resources
from xero_pipelines.resources.crm import CrmDatabase
from xero_pipelines.resources.xero import XeroResource
from xero_pipelines.xero.config import XeroAppConfig
from xero_pipelines.xero.connection import status
from xero_pipelines.xero.crypto import TokenCipher
from xero_pipelines.xero.errors import RECONNECT_HINT
from xero_pipelines.xero.settings import IntegrationSettings


@asset
def xero_probe(context: AssetExecutionContext, xero: XeroResource) -> int:
    client = xero.get_client()
    contacts = client.get("Contacts")["Contacts"]
    settings = xero.settings()
    assert isinstance(settings, IntegrationSettings)
    context.log.info(f"tenant {xero.tenant_id}: {len(contacts)} contacts")
    context.add_output_metadata(xero.call_metadata())
    return len(contacts)


@pytest.fixture
def key(monkeypatch) -> bytes:
    key = Fernet.generate_key()
    monkeypatch.setenv("XERO_TOKEN_KEY", key.decode())
    return key


@pytest.fixture
def sandbox(secret_sandbox: SandboxClient) -> SandboxClient:
    """The sandbox whose client secret the leak scan searches for."""
    return secret_sandbox


@pytest.fixture
def resource(sandbox, db_url, monkeypatch) -> XeroResource:
    monkeypatch.setenv("XERO_CLIENT_ID", "sandbox")
    monkeypatch.setenv("XERO_CLIENT_SECRET", SECRET)
    return XeroResource(
        crm=CrmDatabase(url=db_url),
        client_id=EnvVar("XERO_CLIENT_ID"),
        client_secret=EnvVar("XERO_CLIENT_SECRET"),
        api_url=sandbox.url,
        identity_url=sandbox.url,
        login_url=sandbox.url,
    )


def _app(url: str) -> XeroAppConfig:
    return replace(sandbox_app(url), client_secret=SECRET)


def _event_log_text(instance, run_id: str) -> str:
    records = instance.all_logs(run_id)
    run = instance.get_run_by_id(run_id)
    return "\n".join(
        [serialize_value(record) for record in records] + [serialize_value(run.run_config)]
    )


def test_a_run_uses_the_client_and_leaks_no_token(resource, sandbox, db_engine, key, caplog):
    caplog.set_level(logging.DEBUG)
    cipher = TokenCipher(key)
    connect_flow(db_engine, _app(sandbox.url), cipher)
    sandbox.seed(contacts=3, invoices=0)
    sandbox.faults(expire_tokens=True)  # the run must refresh on a 401
    before = stored_tokens(db_engine, cipher)
    with instance_for_test() as instance:
        result = materialize([xero_probe], resources={"xero": resource}, instance=instance)
        assert result.success
        assert result.output_for_node("xero_probe") >= 3
        after = stored_tokens(db_engine, cipher)
        assert after.access_token != before.access_token  # refreshed during the run
        text = _event_log_text(instance, result.run_id)
        mat = result.asset_materializations_for_node("xero_probe")[0]
        assert mat.metadata["xero_calls"].value >= 1
    seen = status(db_engine, check=False)  # what the run saw is kept for `status`
    assert seen.last_call_at is not None and seen.day_limit_remaining is not None
    secrets = [before.access_token, before.refresh_token, after.access_token, after.refresh_token]
    for secret in secrets:
        assert secret not in text
        assert secret not in caplog.text
    assert SECRET not in caplog.text


@pytest.fixture
def defs_env(sandbox, db_url, key, monkeypatch) -> None:
    """The environment a deployment sets; the code location reads it by variable name."""
    for name, value in {
        "XERO_CLIENT_ID": "sandbox",
        "XERO_CLIENT_SECRET": SECRET,
        "CRM_DATABASE_URL": db_url,
        "XERO_API_URL": sandbox.url,
        "XERO_IDENTITY_URL": sandbox.url,
        "XERO_LOGIN_URL": sandbox.url,
    }.items():
        monkeypatch.setenv(name, value)


def _run_and_collect(resources: dict) -> str:
    """Run `xero_probe` as the code location would (its implicit asset job, in process)
    and return everything Dagster stored about the run, as text."""
    with instance_for_test() as instance:
        job = Definitions(
            assets=[xero_probe], resources=resources
        ).resolve_implicit_global_asset_job_def()
        result = job.execute_in_process(instance=instance)
        assert result.success
        run = instance.get_run_by_id(result.run_id)
        records = instance.all_logs(result.run_id)
        assert any(r.dagster_event and r.dagster_event.is_step_success for r in records)
        parts = [serialize_value(run.run_config), str(run.run_config)]
        parts += [str(record) for record in records]
        parts += [serialize_value(record) for record in records]
        parts.append(serialize_value(instance.get_job_snapshot(run.job_snapshot_id)))
        plan = instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
        parts.append(serialize_value(plan))
        parts.append(serialize_value(run))
        return "\n".join(parts)


def test_the_code_locations_resources_keep_the_secret_out_of_everything(
    defs_env, sandbox, db_engine, key
):
    connect_flow(db_engine, _app(sandbox.url), TokenCipher(key))
    sandbox.seed(contacts=2, invoices=0)
    resources = build_resources()  # exactly what `defs` is built from
    assert resources["xero"].client_secret == EnvVar("XERO_CLIENT_SECRET")
    text = _run_and_collect(resources)
    assert "XERO_CLIENT_SECRET" in text  # the scan sees the resource's config ...
    assert SECRET not in text  # ... by the variable's name only


def test_the_scan_finds_a_secret_configured_as_a_literal(defs_env, sandbox, db_engine, key):
    """The control for the test above: had the secret been configured as a value instead
    of an `EnvVar`, the same scan catches it (so that test can fail)."""
    connect_flow(db_engine, _app(sandbox.url), TokenCipher(key))
    resources = build_resources()
    resources["xero"] = XeroResource(
        crm=resources["crm"],
        client_id=EnvVar("XERO_CLIENT_ID"),
        client_secret=SECRET,  # the mistake: a value where an EnvVar belongs
        api_url=sandbox.url,
        identity_url=sandbox.url,
        login_url=sandbox.url,
    )
    assert SECRET in _run_and_collect(resources)


def test_the_xero_resource_uses_the_crm_database_resource(defs_env, db_engine, sandbox, key):
    """One database setting for both resources: the Xero resource nests the CRM's."""
    resources = build_resources()
    assert resources["xero"].crm is resources["crm"]
    assert resources["crm"].url == EnvVar("CRM_DATABASE_URL")
    assert "database_url" not in XeroResource.model_fields


def test_threads_asking_at_once_share_one_client(resource, sandbox, db_engine, key):
    connect_flow(db_engine, _app(sandbox.url), TokenCipher(key))
    barrier = threading.Barrier(8)
    clients: list = []

    def ask() -> None:
        barrier.wait(10)
        clients.append(resource.get_client())

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(clients) == 8
    assert len({id(c) for c in clients}) == 1
    assert len({id(c.tokens) for c in clients}) == 1


def test_a_lost_connection_fails_the_run_fast(resource, sandbox, db_engine, key):
    connect_flow(db_engine, _app(sandbox.url), TokenCipher(key))
    sandbox.revoke_app()
    with instance_for_test() as instance:
        first = materialize(
            [xero_probe], resources={"xero": resource}, instance=instance, raise_on_error=False
        )
        assert not first.success
        calls = sandbox.stats()
        second = materialize(
            [xero_probe], resources={"xero": resource}, instance=instance, raise_on_error=False
        )
        assert not second.success
        failure = next(e for e in second.all_events if e.event_type_value == "STEP_FAILURE")
        cause = failure.step_failure_data.error.cause
        assert cause.cls_name == "XeroConnectionLostError"
        assert cause.message.startswith(
            f"xero_pipelines.xero.errors.XeroConnectionLostError: {RECONNECT_HINT}"
        )
        assert sandbox.stats() == calls  # failed before any call to Xero


def test_settings_and_tenant_are_read_from_the_database(resource, sandbox, db_engine, key):
    result = connect_flow(db_engine, _app(sandbox.url), TokenCipher(key))
    assert resource.tenant_id == result.tenant_id
    assert resource.settings() == IntegrationSettings()
    assert resource.call_metadata() == {"xero_calls": 0}
    assert "client_secret" not in repr(resource.app_config())


def test_unset_urls_mean_the_contract_defaults():
    app = XeroResource(crm=CrmDatabase(), client_id="id", client_secret=SECRET).app_config()
    assert app.api_url == "https://api.xero.com"
    assert app.token_url == "https://identity.xero.com/connect/token"
    assert app.authorize_url == "https://login.xero.com/identity/connect/authorize"
    assert "offline_access" in app.scope_list
    assert SECRET not in repr(app)
