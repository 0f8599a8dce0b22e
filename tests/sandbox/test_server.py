"""Starting the sandbox the ways others do: `SandboxServer`, the CLI command, `python -m`."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import requests
from click.testing import CliRunner

from xero_pipelines.cli.sandbox import sandbox as sandbox_command
from xero_sandbox import SandboxServer


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            requests.get(f"{url}/_sandbox/stats", timeout=1)
            return
        except requests.ConnectionError:
            assert proc.poll() is None, "server exited"
            time.sleep(0.1)
    raise AssertionError("server did not start")


def test_sandbox_server_context_manager_seeds_and_stops() -> None:
    with SandboxServer(contacts=7, invoices=20, seed=2, access_token_ttl=60) as sb:
        assert sb.url.startswith("http://127.0.0.1:")
        state = requests.get(f"{sb.url}/_sandbox/state", timeout=5).json()
        assert state["tenants"][0]["contacts"] == 7
        assert state["tenants"][0]["invoices"] == 20
        assert state["settings"]["access_token_ttl"] == 60
        url = sb.url
    try:
        requests.get(f"{url}/_sandbox/stats", timeout=1)
    except requests.ConnectionError:
        pass
    else:
        raise AssertionError("server still answering after stop()")


def test_cli_command_prints_the_environment_and_serves() -> None:
    help_text = CliRunner().invoke(sandbox_command, ["--help"]).output
    for option in ("--host", "--port", "--contacts", "--invoices", "--seed", "--no-rate-limits"):
        assert option in help_text
    port = _free_port()
    code = "from xero_pipelines.cli.sandbox import sandbox; sandbox()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "--port", str(port), "--contacts", "3", "--no-rate-limits"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait(url, proc)
        assert (
            requests.get(f"{url}/_sandbox/state", timeout=5).json()["tenants"][0]["contacts"] == 3
        )
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    for line in (
        f"export XERO_API_URL={url}",
        f"export XERO_IDENTITY_URL={url}",
        f"export XERO_LOGIN_URL={url}",
        "export XERO_CLIENT_ID=sandbox",
        "export XERO_CLIENT_SECRET=sandbox",
    ):
        assert line in out


def test_python_dash_m_entry_point() -> None:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "xero_sandbox", "--port", str(port)])
    try:
        _wait(f"http://127.0.0.1:{port}", proc)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# ---- what the command accepts: loopback only, a real port, counts the admin API also takes ----


def test_the_command_spells_the_sandbox_unsafe_flag_as_the_sandbox_does() -> None:
    """The command names the flag without importing the sandbox (issue 10): same spelling."""
    from xero_pipelines.cli.sandbox import UNSAFE_FLAG as COMMAND_FLAG
    from xero_sandbox.server import UNSAFE_FLAG

    assert COMMAND_FLAG == UNSAFE_FLAG


def _invoke(monkeypatch, *args: str):
    """Run the CLI command in-process with `serve` replaced: returns (result, serve calls)."""
    calls: list[dict] = []
    monkeypatch.setattr("xero_sandbox.server.serve", lambda **kw: calls.append(kw))
    return CliRunner().invoke(sandbox_command, list(args)), calls


def test_cli_refuses_a_non_loopback_host_in_one_line(monkeypatch) -> None:
    """`--host 0.0.0.0` used to expose the unauthenticated admin API to the network."""
    for host in ("0.0.0.0", "::", "192.168.1.10", "example.com"):
        result, calls = _invoke(monkeypatch, "--host", host)
        assert result.exit_code == 1 and not calls, result.output
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "--unsafe-expose-admin-api" in result.stderr
    for host in ("127.0.0.1", "127.0.0.2", "localhost", "::1"):
        result, calls = _invoke(monkeypatch, "--host", host)
        assert result.exit_code == 0 and calls[0]["host"] == host, result.output
        assert calls[0]["expose_admin_api"] is False


def test_cli_exposes_the_admin_api_only_when_told_loudly(monkeypatch) -> None:
    result, calls = _invoke(monkeypatch, "--host", "0.0.0.0", "--unsafe-expose-admin-api")
    assert result.exit_code == 0, result.output
    assert calls[0]["host"] == "0.0.0.0" and calls[0]["expose_admin_api"] is True
    assert "WARNING" in result.output


def test_cli_checks_the_port_and_caps_counts_like_the_admin_api(monkeypatch) -> None:
    """`--port 99999` printed that port and listened on another; counts had no cap."""
    from xero_sandbox.config import MAX_GENERATED

    for args in (
        ("--port", "99999"),
        ("--port", "0"),
        ("--contacts", "1000000000"),
        ("--invoices", str(MAX_GENERATED + 1)),
        ("--quotes", "-1"),
    ):
        result, calls = _invoke(monkeypatch, *args)
        assert result.exit_code == 2 and not calls, (args, result.output)
        assert args[1] in result.output
    result, calls = _invoke(monkeypatch, "--contacts", str(MAX_GENERATED), "--port", "65535")
    assert result.exit_code == 0 and calls[0]["contacts"] == MAX_GENERATED
    admin_cap = requests.Session()  # the admin API refuses the same count the CLI does
    with SandboxServer() as sb:
        r = admin_cap.post(f"{sb.url}/_sandbox/seed", json={"contacts": MAX_GENERATED + 1})
        assert r.status_code == 400 and f"{MAX_GENERATED:,}" in r.json()["error"]


def test_servers_refuse_non_loopback_hosts_from_python_too() -> None:
    import pytest

    from xero_sandbox.server import serve

    with pytest.raises(ValueError, match="unsafe-expose-admin-api"):
        SandboxServer(host="0.0.0.0")
    with pytest.raises(ValueError, match="loopback"):
        serve(host="0.0.0.0", port=_free_port())
    for args in (["--host", "0.0.0.0"], ["--port", "99999"], ["--contacts", "1000000000"]):
        proc = subprocess.run(
            [sys.executable, "-m", "xero_sandbox", *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 2, (args, proc.stderr)
        assert proc.stderr.strip().splitlines()[-1].startswith("python -m xero_sandbox")
