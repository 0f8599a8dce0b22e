"""`XeroResource` in real Dagster runs against the sandbox: the client works, a lost
connection fails the run fast, and neither tokens nor the client secret reach the event
log or the run config."""

import logging
import secrets
from dataclasses import replace

import pytest
from cryptography.fernet import Fernet
from dagster import AssetExecutionContext, EnvVar, asset, materialize
from dagster._core.test_utils import instance_for_test
from dagster_shared.serdes import serialize_value

from tests.fixtures.sandbox import SandboxClient
from tests.xero.connect_helpers import connect_flow, sandbox_app, stored_tokens
from xero_pipelines.resources.xero import XeroResource
from xero_pipelines.sandbox import SandboxServer
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


SECRET = "s3cret-" + secrets.token_hex(8)


@pytest.fixture(scope="module")
def private_sandbox_server():
    """A sandbox whose client secret is distinctive, so a leak scan can find it."""
    with SandboxServer(client_secret=SECRET) as server:
        yield server


@pytest.fixture
def sandbox(private_sandbox_server) -> SandboxClient:
    client = SandboxClient(private_sandbox_server.url)
    client.reset()
    return client


@pytest.fixture
def resource(sandbox, db_url, monkeypatch) -> XeroResource:
    monkeypatch.setenv("XERO_CLIENT_ID", "sandbox")
    monkeypatch.setenv("XERO_CLIENT_SECRET", SECRET)
    return XeroResource(
        client_id=EnvVar("XERO_CLIENT_ID"),
        client_secret=EnvVar("XERO_CLIENT_SECRET"),
        api_url=sandbox.url,
        identity_url=sandbox.url,
        login_url=sandbox.url,
        database_url=db_url,
    )


def _app(url: str) -> XeroAppConfig:
    return replace(sandbox_app(url), client_secret=SECRET)


def _event_log_text(instance, run_id: str) -> str:
    records = instance.all_logs(run_id)
    run = instance.get_run_by_id(run_id)
    return "\n".join(
        [serialize_value(record) for record in records] + [serialize_value(run.run_config)]
    )


def test_a_run_uses_the_client_and_leaks_no_secret(resource, sandbox, db_engine, key, caplog):
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
        run = instance.get_run_by_id(result.run_id)
        assert SECRET not in serialize_value(run.run_config)
        text = _event_log_text(instance, result.run_id)
        mat = result.asset_materializations_for_node("xero_probe")[0]
        assert mat.metadata["xero_calls"].value >= 1
    seen = status(db_engine, check=False)  # what the run saw is kept for `status`
    assert seen.last_call_at is not None and seen.day_limit_remaining is not None
    secrets = [before.access_token, before.refresh_token, after.access_token, after.refresh_token]
    for secret in secrets:
        assert secret not in text
        assert secret not in caplog.text
    assert SECRET not in text
    assert SECRET not in caplog.text


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
    app = XeroResource(client_id="id", client_secret=SECRET).app_config()
    assert app.api_url == "https://api.xero.com"
    assert app.token_url == "https://identity.xero.com/connect/token"
    assert app.authorize_url == "https://login.xero.com/identity/connect/authorize"
    assert "offline_access" in app.scope_list
    assert SECRET not in repr(app)
