"""The connection commands as a user runs them: real subprocesses, the sandbox over HTTP,
the authorize URL read from stdout and followed like a browser would."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.xero.connect_helpers import stored_tokens
from xero_pipelines.db import create_db_engine
from xero_pipelines.xero.crypto import TokenCipher
from xero_pipelines.xero.errors import RECONNECT_HINT

CLI = str(Path(sys.executable).with_name("xero-pipelines"))


@pytest.fixture
def env(sandbox, db_url, tmp_path) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith(("XERO_", "CRM_"))}
    out.update(
        XERO_PIPELINES_HOME=str(tmp_path / "cli-home"),
        CRM_DATABASE_URL=db_url,
        XERO_CLIENT_ID="sandbox",
        XERO_CLIENT_SECRET="sandbox",
        XERO_API_URL=sandbox.url,
        XERO_IDENTITY_URL=sandbox.url,
        XERO_LOGIN_URL=sandbox.url,
    )
    return out


class Transcript:
    """Every byte the commands printed, for the leak scan."""

    def __init__(self) -> None:
        self.text = ""

    def run(self, env, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [CLI, *args], env=env, capture_output=True, text=True, timeout=timeout
        )
        self.text += result.stdout + result.stderr
        return result

    def flow(self, env, *args: str) -> subprocess.CompletedProcess:
        """Run connect/reconnect, follow the printed authorize URL, wait for the end."""
        proc = subprocess.Popen(
            [CLI, *args, "--no-browser", "--port", "0", "--timeout", "30"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        seen = []
        for line in proc.stdout:
            seen.append(line)
            if line.startswith("http"):
                assert line.strip() == line.rstrip("\n")  # on a line of its own
                answer = requests.get(line.strip(), timeout=10)
                assert answer.status_code == 200
                break
        out, err = proc.communicate(timeout=60)
        self.text += "".join(seen) + out + err
        return subprocess.CompletedProcess(proc.args, proc.returncode, "".join(seen) + out, err)


def _tokens(env, db_url):
    key = (Path(env["XERO_PIPELINES_HOME"]) / "token.key").read_bytes()
    engine = create_db_engine(db_url)
    try:
        return stored_tokens(engine, TokenCipher(key.strip()))
    finally:
        engine.dispose()


def test_connect_status_reconnect_disconnect(env, db_url, sandbox):
    t = Transcript()
    connected = t.flow(env, "connect")
    assert connected.returncode == 0, connected.stderr
    assert "/identity/connect/authorize?" in connected.stdout
    assert "Connected to Demo Company (Sandbox)" in connected.stdout
    first = _tokens(env, db_url)
    key_file = Path(env["XERO_PIPELINES_HOME"]) / "token.key"
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"

    st = t.run(env, "status")
    assert st.returncode == 0, st.stderr
    assert "Organisation:" in st.stdout and "Demo Company (Sandbox)" in st.stdout
    assert "Reconnect needed:       no" in st.stdout
    for label in ("Tenant id", "Connected since", "Access token expires", "Scopes granted"):
        assert label in st.stdout
    assert "accounting.invoices" in st.stdout

    again = t.flow(env, "reconnect")
    assert again.returncode == 0, again.stderr
    assert "Reconnected to Demo Company (Sandbox)" in again.stdout
    second = _tokens(env, db_url)
    assert second.refresh_token != first.refresh_token

    gone = t.run(env, "disconnect")
    assert gone.returncode == 0, gone.stderr
    assert "Disconnected from Demo Company (Sandbox)" in gone.stdout
    assert "Imported data is kept" in gone.stdout
    after = t.run(env, "status")
    assert "Reconnect needed:" in after.stdout and "disconnected" in after.stdout
    assert re.search(r"^Connected since: +-$", after.stdout, re.MULTILINE), after.stdout
    twice = t.run(env, "disconnect")
    assert twice.returncode == 1
    assert twice.stderr.strip().startswith(
        "Error: already disconnected from Demo Company (Sandbox): nothing to do"
    )

    for secret in (
        first.access_token,
        first.refresh_token,
        second.access_token,
        second.refresh_token,
    ):
        assert secret not in t.text
    assert "client_secret" not in t.text


def test_revoked_app_shows_in_status(env, db_url, sandbox):
    t = Transcript()
    assert t.flow(env, "connect").returncode == 0
    sandbox.revoke_app()
    st = t.run(env, "status")
    assert st.returncode == 0, st.stderr
    assert f"Reconnect needed:       yes: {RECONNECT_HINT}" in st.stdout


def test_disconnect_fails_when_xero_may_still_hold_the_grant(env, db_url, sandbox):
    t = Transcript()
    assert t.flow(env, "connect").returncode == 0
    sandbox.faults(status=503, count=5, path="/connect/revocation")
    sandbox.faults(status=503, count=5, path="/connections")
    gone = t.run(env, "disconnect")
    assert gone.returncode == 1
    [line] = gone.stderr.strip().splitlines()
    assert line.startswith("Error: the local tokens are wiped, but Demo Company (Sandbox) may")
    assert "still be connected to this app in Xero" in line
    assert "Settings > Connected Apps" in line
    assert "Disconnected from" not in gone.stdout
    sandbox.clear_faults()
    after = t.run(env, "status", "--offline")
    assert "disconnected" in after.stdout  # the local tokens are gone all the same


def test_abandoned_flow_times_out(env):
    result = subprocess.run(
        [CLI, "connect", "--no-browser", "--port", "0", "--timeout", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "Error: no answer from Xero within 2 s: the authorisation was abandoned; "
        "run `xero-pipelines connect` again"
    )


def test_several_organisations_need_tenant(env, sandbox):
    sandbox.add_tenant("Second Org Ltd")
    t = Transcript()
    result = t.flow(env, "connect")
    assert result.returncode == 1
    assert "several organisations are authorised, pick one with --tenant" in result.stderr
    assert "Second Org Ltd" in result.stderr and "Demo Company (Sandbox)" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    chosen = t.flow(env, "connect", "--tenant", "Second Org Ltd")
    assert chosen.returncode == 0, chosen.stderr
    assert "Connected to Second Org Ltd" in chosen.stdout


def test_commands_without_a_connection(env):
    t = Transcript()
    assert "Not connected" in t.run(env, "status").stdout
    result = t.run(env, "disconnect")
    assert result.returncode == 1
    assert result.stderr.strip() == "Error: nothing to disconnect: Xero is not connected"


@pytest.mark.parametrize("command", [("status",), ("settings", "show")])
def test_a_database_without_tables_is_reported_and_not_created(tmp_path, command):
    """`status` and `settings show` only look: no empty crm.sqlite is left behind."""
    home = tmp_path / "fresh-home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XERO_", "CRM_"))}
    env["XERO_PIPELINES_HOME"] = str(home)
    result = Transcript().run(env, *command)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "Error: the database has no Xero tables yet: run `xero-pipelines db upgrade`"
    )
    assert not (home / "crm.sqlite").exists()
    elsewhere = tmp_path / "other" / "crm.sqlite"
    env["CRM_DATABASE_URL"] = f"sqlite:///{elsewhere}"
    result = Transcript().run(env, *command)
    assert result.returncode == 1 and "xero-pipelines db upgrade" in result.stderr
    assert not elsewhere.exists()


def test_settings_show_and_set(env):
    t = Transcript()
    shown = t.run(env, "settings", "show")
    assert shown.returncode == 0, shown.stderr
    assert "invoice_status" in shown.stdout and "(default)" in shown.stdout
    changed = t.run(env, "settings", "set", "invoice_status", "authorised")
    assert changed.returncode == 0 and changed.stdout.strip() == "invoice_status = AUTHORISED"
    assert "AUTHORISED" in t.run(env, "settings", "show").stdout
    refused = t.run(env, "settings", "set", "phone_field", "fax")
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        "Error: phone_field cannot be 'fax': allowed values are mobile, phone, work_phone"
    )
