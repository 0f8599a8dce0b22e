"""`dagster-daemon run` as a real process over the repository's code location, for the
end-to-end tests and the request benchmark.

`DAGSTER_HOME` is a fresh folder holding the repository's `dagster.yaml` (the run queue
that lets one Xero run go at a time) and `workspace.yaml`; the daemon starts its own code
server, whose run launcher starts a process per run, all with the environment given
here. The test reads the same instance (runs, sensor ticks) from that folder.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import yaml
from dagster._core.instance.ref import InstanceRef
from dagster._core.scheduler.instigation import InstigatorType
from dagster._core.storage.tags import RUN_KEY_TAG

ROOT = Path(__file__).resolve().parents[2]
DAEMON = Path(sys.executable).with_name("dagster-daemon")


@dataclass
class DaemonProcess:
    home: Path
    process: subprocess.Popen
    log: Path

    def instance(self) -> dg.DagsterInstance:
        return dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(self.home)))

    def log_tail(self, lines: int = 60) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(f"dagster-daemon exited:\n{self.log_tail()}")


def sensor_ticks(instance: dg.DagsterInstance, sensor_name: str) -> list:
    """The sensor's ticks, oldest first (the daemon records one per evaluation)."""
    states = [
        s
        for s in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
        if s.instigator_name == sensor_name
    ]
    ticks = [t for s in states for t in instance.get_ticks(s.instigator_origin_id, s.selector_id)]
    return sorted(ticks, key=lambda t: t.timestamp)


def runs_for_key(instance: dg.DagsterInstance, run_key: str) -> list[dg.DagsterRun]:
    return list(instance.get_runs(dg.RunsFilter(tags={RUN_KEY_TAG: run_key})))


def prepare_home(folder: Path, instance_settings: Mapping[str, Any] | None = None) -> Path:
    """A DAGSTER_HOME with the repository's instance settings (top-level sections of
    `instance_settings` replace the repository's) and workspace."""
    home = folder / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    settings = yaml.safe_load((ROOT / "dagster.yaml").read_text())
    settings.update(instance_settings or {})
    (home / "dagster.yaml").write_text(yaml.safe_dump(settings))
    shutil.copy(ROOT / "workspace.yaml", home / "workspace.yaml")
    return home


@contextmanager
def dagster_daemon(
    folder: Path, env: Mapping[str, str], instance_settings: Mapping[str, Any] | None = None
) -> Iterator[DaemonProcess]:
    """Run the daemon until the block ends; then stop it and every process it started
    (they share its new session, so one signal to its process group reaches them)."""
    home = prepare_home(folder, instance_settings)
    # Create the instance's SQLite storages here, once: the daemon and its code server
    # would otherwise both create them at start-up, and that race can leave two
    # `alembic_version` rows ("more than one head present"), failing the code location.
    dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))).dispose()
    log = folder / "daemon.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(DAEMON), "run", "-w", str(home / "workspace.yaml")],
            cwd=ROOT,
            env={**os.environ, **env, "DAGSTER_HOME": str(home)},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    daemon = DaemonProcess(home, process, log)
    try:
        yield daemon
    finally:
        _stop(process)


def _stop(process: subprocess.Popen) -> None:
    _stop_all([process])


def _stop_all(processes: Iterable[subprocess.Popen], grace: float = 30.0) -> None:
    """Stop processes as an operator would: SIGTERM to each one's process group, all at
    once, then wait for them (`grace` seconds at most, together), then SIGKILL each group,
    so what a process started goes with it. Together, not one after another: each takes
    seconds to shut down, and a test's teardown would last their sum."""
    processes = list(processes)
    for process in processes:
        _signal_group(process, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for process in processes:
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
    time.sleep(0.5)  # the leaders are gone or late; their children had the same signal
    for process in processes:
        _signal_group(process, signal.SIGKILL)
    for process in processes:
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)


def _signal_group(process: subprocess.Popen, sig: signal.Signals) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)
