"""The production stack as real processes, for tests/e2e/test_production.py.

Every service starts the way an operator starts it: the sandbox with `xero-pipelines
sandbox` (Xero's limits on), Celery workers with docs/celery.md's command, and
`dagster-daemon` / `dagster-webserver` with `xero-pipelines serve daemon|webserver`
(preflight, then exec) on `deploy/dagster.yaml` in a fresh DAGSTER_HOME. Each process gets
a session of its own, so one signal to its process group reaches what it started (the
daemon's code server and run workers, a Celery worker's pool); `Stack.close` stops every
one still running, whatever happened, and a test can SIGKILL one and start it again.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import yaml

from tests.e2e.celery_workers import BIN, answering, worker_command
from tests.e2e.daemon import ROOT, _stop, _stop_all
from tests.e2e.webserver import _wait_until_loaded
from tests.fixtures.postgres import _free_port

PRODUCTION = ROOT / "deploy" / "dagster.yaml"
CLI = str(BIN / "xero-pipelines")
START_TIMEOUT = 240.0  # seconds for a service to come up (each imports the code location)


def production_home(folder: Path, run_monitoring: Mapping[str, Any]) -> Path:
    """DAGSTER_HOME with deploy/dagster.yaml, only `run_monitoring`'s given keys replaced
    (its timings are hours and minutes; a test waits seconds), and the workspace."""
    home = folder / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    settings = yaml.safe_load(PRODUCTION.read_text())
    settings["run_monitoring"] = {**settings["run_monitoring"], **run_monitoring}
    (home / "dagster.yaml").write_text(yaml.safe_dump(settings))
    shutil.copy(ROOT / "workspace.yaml", home / "workspace.yaml")
    return home


@dataclass
class Service:
    """One started process (and its process group), with its log."""

    name: str
    process: subprocess.Popen
    log: Path

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return f"--- {self.name} ({self.log.name}) ---\n" + "\n".join(text.splitlines()[-lines:])

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole process group, as a machine or container dying would."""
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)


@dataclass
class Stack:
    """The processes one test started, by name; the last started of a name is current."""

    folder: Path
    env: dict[str, str]
    services: dict[str, Service] = field(default_factory=dict)
    stopped: list[Service] = field(default_factory=list)
    starts: dict[str, int] = field(default_factory=dict)
    webserver_url: str = ""

    def start(self, name: str, command: list[str]) -> Service:
        self.starts[name] = self.starts.get(name, 0) + 1
        log = self.folder / f"{name}-{self.starts[name]}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                env={**os.environ, **self.env, "PYTHONPATH": str(ROOT)},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        service = Service(name, process, log)
        if name in self.services:
            self.stopped.append(self.services[name])
        self.services[name] = service
        return service

    def __getitem__(self, name: str) -> Service:
        return self.services[name]

    def tails(self, lines: int = 40) -> str:
        """The end of every current service's log: what a timeout's message shows."""
        return "\n".join(s.tail(lines) for s in self.services.values())

    def check_alive(self, *names: str) -> None:
        dead = [n for n in names or self.services if not self.services[n].alive()]
        if dead:
            raise AssertionError(f"{dead} exited\n{self.tails()}")

    def wait_for(self, settled: Callable[[], Any], what: str, timeout: float) -> Any:
        """Poll until `settled()` is truthy; on a timeout, fail with every log's tail."""
        deadline = time.monotonic() + timeout
        while not (found := settled()):
            self.check_alive()
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out after {timeout:.0f} s waiting for {what}\n{self.tails()}"
                )
            time.sleep(0.5)
        return found

    # ---- the services --------------------------------------------------------------------

    def sandbox(self) -> str:
        """`xero-pipelines sandbox` on a free port, Xero's limits on; its URL."""
        port = _free_port()
        self.start("sandbox", [CLI, "sandbox", "--host", "127.0.0.1", "--port", str(port)])
        url = f"http://127.0.0.1:{port}"
        self.wait_for(lambda: _answers(f"{url}/_sandbox/stats"), "the sandbox", START_TIMEOUT)
        return url

    def start_worker(self, name: str) -> Service:
        """Start a Celery worker (one step at a time) as docs/celery.md says; it answers
        once it has loaded the code location (`wait_for_workers`)."""
        return self.start(f"celery-{name}", worker_command(name, concurrency=1))

    def wait_for_workers(self, *names: str) -> None:
        """Until every named worker answers a ping through the broker."""
        broker = self.env["CELERY_BROKER_URL"]
        self.wait_for(
            lambda: set(names) <= answering(broker), f"Celery workers {names}", START_TIMEOUT
        )

    def worker(self, name: str) -> Service:
        """A Celery worker, once it answers a ping through the broker."""
        service = self.start_worker(name)
        self.wait_for_workers(name)
        return service

    def daemon(self, home: Path) -> Service:
        """`xero-pipelines serve daemon` (preflight, then `dagster-daemon run`)."""
        workspace = str(home / "workspace.yaml")
        return self.start("daemon", [CLI, "serve", "daemon", "-w", workspace])

    def start_webserver(self, home: Path) -> Service:
        """`xero-pipelines serve webserver` on a free port; `wait_for_webserver` waits for
        its code location to load. Started beside the other services, not after them:
        each spends seconds importing the code location."""
        port = _free_port()
        workspace = str(home / "workspace.yaml")
        command = [CLI, "serve", "webserver", "-w", workspace, "-h", "127.0.0.1", "-p", str(port)]
        self.webserver_url = f"http://127.0.0.1:{port}"
        return self.start("webserver", command)

    def wait_for_webserver(self) -> str:
        """The current webserver's URL, once its code location loaded."""
        service = self["webserver"]
        _wait_until_loaded(service.process, self.webserver_url, service.log)
        return self.webserver_url

    def stop(self, name: str) -> None:
        """Stop a service as an operator would (SIGTERM to its group, then SIGKILL)."""
        _stop(self.services[name].process)

    def close(self) -> None:
        """Stop everything this stack started, killed or not: a killed leader may leave
        members of its group running (none expected, but a test must not leak them)."""
        _stop_all(service.process for service in [*self.services.values(), *self.stopped])


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).ok
    except requests.RequestException:
        return False
