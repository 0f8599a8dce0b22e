"""Celery workers and a Celery-executed run as real processes, for the scale-out tests.

Each worker starts with the command docs/celery.md gives operators (`worker_command`),
the broker and result backend passed the way it says (Celery's own `CELERY_BROKER_URL` and
`CELERY_RESULT_BACKEND` variables, so no URL is on a command line). The run is
`dagster job execute` in a process of its own with `XERO_PIPELINES_EXECUTOR=celery`: a
fresh import of the code location, as a run worker of the daemon would do, on the instance
in `DAGSTER_HOME`. Every process gets a session of its own, so stopping one reaches its
children (Celery's pool processes) too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from celery import Celery

from tests.e2e.daemon import ROOT, _stop_all

BIN = Path(sys.executable).parent
START_TIMEOUT = 180  # seconds for every worker to answer a ping (it imports the code location)
RUN_TIMEOUT = 600  # seconds at most for the import run


def worker_command(name: str, concurrency: int, includes: Sequence[str] = ()) -> list[str]:
    """docs/celery.md's worker command: Dagster's task app on its `dagster` queue; the
    code location imported at start-up, so a bad setting stops the worker at once."""
    return [
        str(BIN / "celery"),
        "-A",
        "dagster_celery.app",
        "worker",
        "-Q",
        "dagster",
        "-n",
        f"{name}@%h",
        "--concurrency",
        str(concurrency),
        "--prefetch-multiplier",
        "1",
        "-I",
        ",".join(["xero_pipelines.definitions", *includes]),
        "-l",
        "INFO",
    ]


def celery_env(broker: str, backend: str | None = None) -> dict[str, str]:
    """The broker for the code location (the executor) and for the workers (Celery)."""
    backend = backend or broker
    return {
        "XERO_PIPELINES_EXECUTOR": "celery",
        "XERO_PIPELINES_CELERY_BROKER": broker,
        "XERO_PIPELINES_CELERY_BACKEND": backend,
        "CELERY_BROKER_URL": broker,
        "CELERY_RESULT_BACKEND": backend,
    }


@dataclass
class Workers:
    processes: dict[str, subprocess.Popen]
    logs: dict[str, Path]
    broker: str = ""

    def log_tail(self, lines: int = 40) -> str:
        out = []
        for name, log in self.logs.items():
            text = log.read_text(errors="replace") if log.exists() else ""
            out.append(f"--- worker {name} ---\n" + "\n".join(text.splitlines()[-lines:]))
        return "\n".join(out)

    def check_alive(self) -> None:
        dead = [name for name, p in self.processes.items() if p.poll() is not None]
        if dead:
            raise RuntimeError(f"Celery worker(s) {dead} exited:\n{self.log_tail()}")

    def wait_until_answering(self) -> None:
        """Until every worker answers a ping through the broker (it has loaded the code
        location), so each takes steps from the run's first."""
        deadline = time.monotonic() + START_TIMEOUT
        while not set(self.processes) <= answering(self.broker):
            self.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Celery workers did not start:\n{self.log_tail()}")


def answering(broker: str) -> set[str]:
    """The names (before the `@`) of the workers that answer a ping through the broker."""
    with Celery(broker=broker) as app:
        replies = app.control.ping(timeout=1.0) or []
    return {hostname.split("@", 1)[0] for reply in replies for hostname in reply}


@contextmanager
def celery_workers(
    folder: Path,
    env: Mapping[str, str],
    names: Sequence[str] = ("w1", "w2"),
    concurrency: int = 1,
    includes: Sequence[str] = (),
) -> Iterator[Workers]:
    """Start one worker per name and yield at once (a test prepares its run while they
    load the code location, then calls `wait_until_answering`); stop them all (and their
    pool processes) when the block ends, whatever happened."""
    workers = Workers({}, {}, env["CELERY_BROKER_URL"])
    full_env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    try:
        for name in names:
            log = folder / f"celery-{name}.log"
            workers.logs[name] = log
            with log.open("wb") as out:
                workers.processes[name] = subprocess.Popen(
                    worker_command(name, concurrency, includes),
                    cwd=ROOT,
                    env=full_env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        yield workers
    finally:
        _stop_all(workers.processes.values())


def execute_job(home: Path, env: Mapping[str, str], job: str, log: Path) -> int:
    """`dagster job execute` on the instance in `home`; its exit status. The process (and
    anything it started) is killed if it outlives RUN_TIMEOUT or the test fails."""
    command = [str(BIN / "dagster"), "job", "execute", "-m", "xero_pipelines", "-a", "defs"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "-j", job],
            cwd=ROOT,
            env={**os.environ, **env, "DAGSTER_HOME": str(home)},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        return process.wait(timeout=RUN_TIMEOUT)
    finally:
        if process.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
