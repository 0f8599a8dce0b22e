"""The connection commands as a user runs them: real subprocesses, the sandbox over HTTP,
the authorize URL read from stdout and followed like a browser would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from cryptography.fernet import Fernet

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


def one_line(result: subprocess.CompletedProcess) -> str:
    """The one line a failing command prints on stderr."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


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
    assert "Last sync per asset:" in st.stdout
    assert "  xero_invoices:          never" in st.stdout  # nothing imported yet

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
    assert after.returncode == 0, after.stderr  # as for "not connected"
    assert after.stdout.strip() == (
        "Not connected (disconnected from Demo Company (Sandbox)): run `xero-pipelines connect`."
    )
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
    assert st.returncode == 1, st.stderr  # the connection is unusable
    assert f"Reconnect needed:       yes: {RECONNECT_HINT}" in st.stdout
    line = one_line(st)
    assert line.startswith(f"Error: {RECONNECT_HINT}")
    assert t.run(env, "status", "--offline").returncode == 1


def test_disconnect_fails_when_xero_may_still_hold_the_grant(env, db_url, sandbox):
    t = Transcript()
    assert t.flow(env, "connect").returncode == 0
    sandbox.faults(status=503, count=5, path="/connect/revocation")
    sandbox.faults(status=503, count=5, path="/connections")
    gone = t.run(env, "disconnect")
    assert gone.returncode == 1
    line = one_line(gone)
    assert line.startswith("Error: the local tokens are wiped, but Demo Company (Sandbox) may")
    assert "still be connected to this app in Xero" in line
    assert line.endswith(
        "remove the app under Connected Apps in Xero "
        "(Settings > Connected Apps, https://go.xero.com/Settings/ConnectedApps)"
    )
    assert "Disconnected from" not in gone.stdout
    sandbox.clear_faults()
    after = t.run(env, "status", "--offline")
    assert after.stdout.startswith("Not connected")  # the local tokens are gone all the same


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


def _status_lines(result: subprocess.CompletedProcess) -> dict[str, str]:
    rows = (line.split(":", 1) for line in result.stdout.splitlines() if ":" in line)
    return {label.strip(): value.strip() for label, value in rows}


@pytest.mark.parametrize("offline", [False, True])
def test_status_fails_when_the_token_key_changed(env, sandbox, offline):
    t = Transcript()
    assert t.flow(env, "connect").returncode == 0
    other = {**env, "XERO_TOKEN_KEY": Fernet.generate_key().decode()}
    st = t.run(other, "status", *(["--offline"] if offline else []))
    assert st.returncode == 1, st.stdout
    reason = (
        "the stored tokens cannot be read: the token key changed: set XERO_TOKEN_KEY back "
        "or run `xero-pipelines reconnect`"
    )
    assert _status_lines(st)["Reconnect needed"] == f"yes: {reason}"
    assert st.stderr.strip() == f"Error: {reason}"
    assert t.run(env, "status").returncode == 0  # the right key still works


@pytest.mark.parametrize("offline", [False, True])
def test_status_with_a_deleted_key_file_fails_and_makes_no_new_key(env, sandbox, offline):
    t = Transcript()
    assert t.flow(env, "connect").returncode == 0
    key_file = Path(env["XERO_PIPELINES_HOME"]) / "token.key"
    key = key_file.read_bytes()
    key_file.unlink()
    st = t.run(env, "status", *(["--offline"] if offline else []))
    assert st.returncode == 1, st.stdout
    line = one_line(st)
    assert line == (
        f"Error: the stored tokens cannot be read: the token key file {key_file} is missing "
        "but the stored tokens were encrypted with it: restore the file or set "
        "XERO_TOKEN_KEY to that key, or run `xero-pipelines reconnect`"
    )
    assert not key_file.exists()  # not silently replaced by a key that cannot decrypt
    key_file.write_bytes(key)
    assert t.run(env, "status").returncode == 0


def test_status_fails_when_xero_cannot_be_reached(env, sandbox):
    t = Transcript()
    assert t.flow(env, "connect").returncode == 0
    sandbox.faults(status=503, count=5, path="/connections")
    st = t.run(env, "status")
    assert st.returncode == 1
    lines = _status_lines(st)
    assert lines["Reconnect needed"] == "unknown: the check failed"
    assert lines["Check"].startswith("could not reach Xero: ")
    line = one_line(st)
    assert line.startswith("Error: could not reach Xero: ")
    offline = t.run(env, "status", "--offline")  # does not ask Xero
    assert offline.returncode == 0, offline.stderr
    assert _status_lines(offline)["Reconnect needed"] == "no"


@pytest.mark.parametrize("lose_key", ["changed", "deleted"])
def test_disconnect_without_the_key_says_the_grant_is_still_live(env, sandbox, lose_key):
    t = Transcript()
    assert t.flow(env, "connect").returncode == 0
    key_file = Path(env["XERO_PIPELINES_HOME"]) / "token.key"
    if lose_key == "changed":
        env = {**env, "XERO_TOKEN_KEY": Fernet.generate_key().decode()}
    else:
        key_file.unlink()
    gone = t.run(env, "disconnect")
    assert gone.returncode == 1
    line = one_line(gone)
    assert line.startswith(
        "Error: the local tokens are wiped, but Demo Company (Sandbox) is still connected "
        "to this app in Xero, because the grant could not be revoked (the stored tokens "
        "cannot be read: "
    )
    assert line.endswith(
        "remove the app under Connected Apps in Xero "
        "(Settings > Connected Apps, https://go.xero.com/Settings/ConnectedApps)"
    )
    assert "Disconnected from" not in gone.stdout
    assert sandbox.state()["live_refresh_tokens"] == 1  # it is indeed still live in Xero
    assert sandbox.stats().get("POST /connect/revocation") is None
    assert key_file.exists() == (lose_key == "changed")  # no key made up to read them
    after = t.run(env, "status")
    assert after.returncode == 0 and after.stdout.startswith("Not connected")


def test_status_shows_the_last_sync_of_each_asset(env, db_url, sandbox):
    """What the import wrote in `xero_sync_state` is what `status` shows, per asset."""
    from datetime import UTC, datetime

    from xero_pipelines.db.sync_state import save_sync_state
    from xero_pipelines.xero.tokens import current_connection

    t = Transcript()
    assert t.flow(env, "connect").returncode == 0
    engine = create_db_engine(db_url)
    try:
        with engine.begin() as conn:
            tenant_id = current_connection(conn).tenant_id
            save_sync_state(
                conn,
                tenant_id=tenant_id,
                asset="xero_contacts",
                watermark=None,
                synced_at=datetime(2026, 12, 1, 9, 30, tzinfo=UTC),
                rows_total=1234,
            )
    finally:
        engine.dispose()
    st = t.run(env, "status", "--offline")
    assert st.returncode == 0, st.stderr
    assert "  xero_contacts:          2026-12-01 09:30:00 UTC (1234 rows)" in st.stdout
    assert "  xero_invoices:          never" in st.stdout
