"""Starting the sandbox the ways others do: `SandboxServer`, the CLI command, `python -m`."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import requests
from click.testing import CliRunner

from xero_pipelines.cli.sandbox import sandbox as sandbox_command
from xero_pipelines.sandbox import SandboxServer


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
    proc = subprocess.Popen([sys.executable, "-m", "xero_pipelines.sandbox", "--port", str(port)])
    try:
        _wait(f"http://127.0.0.1:{port}", proc)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
