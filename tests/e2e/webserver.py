"""`dagster-webserver` as a real process over a DAGSTER_HOME, for the browser test.

It serves the repository's `workspace.yaml` (its own code server loads `xero_pipelines`
with the environment given here) on a free loopback port. Ready means more than "the port
answers": the code location must have loaded, or the pages would show only an error.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.e2e.daemon import ROOT, _stop
from tests.fixtures.postgres import _free_port

WEBSERVER = Path(sys.executable).with_name("dagster-webserver")
START_TIMEOUT = 240.0  # seconds: the code server imports Dagster and the code location
LOCATIONS = """{ workspaceOrError { __typename ... on Workspace { locationEntries {
    name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }"""


class WebserverNotReady(RuntimeError):
    pass


@dataclass
class Webserver:
    """A started `dagster-webserver`; its pages are ready once `wait_until_loaded` returns."""

    url: str
    process: subprocess.Popen
    log: Path

    def wait_until_loaded(self) -> str:
        """Wait until the code location has loaded; the base URL."""
        _wait_until_loaded(self.process, self.url, self.log)
        return self.url


@contextmanager
def webserver_process(home: Path, env: Mapping[str, str], log: Path) -> Iterator[Webserver]:
    """Start serving `home` and yield at once, so a test can make its runs while the code
    server loads; stop the webserver and its code server (they share its new session, so
    one signal reaches both) when the block ends. The instance's storages must exist
    before (`DagsterInstance.from_ref` makes them), or two processes race to make them."""
    port = _free_port()
    command = [str(WEBSERVER), "-h", "127.0.0.1", "-p", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "-w", str(home / "workspace.yaml")],
            cwd=ROOT,
            env={**os.environ, **env, "DAGSTER_HOME": str(home)},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield Webserver(f"http://127.0.0.1:{port}", process, log)
    finally:
        _stop(process)


def _wait_until_loaded(process: subprocess.Popen, url: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    seen = "no answer"
    while True:
        if process.poll() is not None:
            raise WebserverNotReady(f"dagster-webserver exited:\n{_tail(log)}")
        seen = _location_state(url) or seen
        if seen == "LOADED RepositoryLocation":
            return
        if seen.startswith("LOADED PythonError"):
            raise WebserverNotReady(f"the code location failed to load: {seen}")
        if time.monotonic() > deadline:
            raise WebserverNotReady(f"not ready ({seen}):\n{_tail(log)}")
        time.sleep(0.5)


def _location_state(url: str) -> str | None:
    try:
        answer = requests.post(f"{url}/graphql", json={"query": LOCATIONS}, timeout=10)
        entries = answer.json()["data"]["workspaceOrError"]["locationEntries"]
    except (requests.RequestException, ValueError, KeyError, TypeError):
        return None
    [entry] = [e for e in entries if e["name"] == "xero_pipelines"] or [None]
    if entry is None:
        return "no xero_pipelines location"
    loaded = entry["locationOrLoadError"] or {}
    detail = f" {loaded.get('message', '')}".rstrip()
    return f"{entry['loadStatus']} {loaded.get('__typename')}{detail}"


def _tail(log: Path, chars: int = 3000) -> str:
    return log.read_text(errors="replace")[-chars:] if log.exists() else ""
