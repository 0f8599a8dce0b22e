"""One run of `xero_import_job` in this process, as the import benchmark's child.

    python benchmarks/import_run.py OUT.json

The environment says where Xero and the CRM database are (`XERO_API_URL`,
`CRM_DATABASE_URL`, ... as in production). Writes to OUT.json: success, the run's wall
time, each step's start and end, the materializations' metadata (counts, calls), the
checks, every Xero response's time and status (from the client's own log lines), and the
peak RSS and CPU time of this process (the job runs its steps in this process, as its
`in_process_executor` says).
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import sys
import threading
import time
from typing import Any

import dagster as dg

from xero_pipelines.definitions import defs

JOB = "xero_import_job"


class CallLog(logging.Handler):
    """Keeps (monotonic time, endpoint, status) of every answer the client logs."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.calls: list[tuple[float, str, int]] = []
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == "%s -> %s in %.0f ms" and record.args:
            endpoint, status, _ms = record.args  # type: ignore[misc]
            with self._guard:
                self.calls.append((time.monotonic(), str(endpoint), int(status)))


def import_job() -> dg.JobDefinition:
    """The job as the code location defines it."""
    return defs.resolve_job_def(JOB)


def _plain(value: Any) -> Any:
    """A metadata value as JSON, or None for tables and Markdown."""
    inner = getattr(value, "value", value)
    if isinstance(inner, bool | int | float | dict | list):
        return inner
    if isinstance(inner, str) and len(inner) < 200:
        return inner
    return None


def _events(instance: dg.DagsterInstance, run_id: str) -> dict[str, Any]:
    steps: dict[str, dict[str, float]] = {}
    assets: dict[str, dict[str, Any]] = {}
    checks: dict[str, bool] = {}
    failures: list[str] = []
    run: dict[str, float] = {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None:
            continue
        kind = event.event_type_value
        if kind in ("RUN_START", "RUN_SUCCESS", "RUN_FAILURE"):
            run[kind] = entry.timestamp
        if entry.step_key and kind in ("STEP_START", "STEP_SUCCESS", "STEP_FAILURE"):
            steps.setdefault(entry.step_key, {})[kind] = entry.timestamp
        if kind == "STEP_FAILURE":
            failures.append(f"{entry.step_key}: {event.event_specific_data.error.message}")
        if kind == "ASSET_MATERIALIZATION":
            mat = entry.asset_materialization
            meta = {k: _plain(v) for k, v in mat.metadata.items()}
            key = mat.asset_key.to_user_string()
            assets[key] = {k: v for k, v in meta.items() if v is not None}
        if kind == "ASSET_CHECK_EVALUATION":
            data = event.event_specific_data
            checks[f"{data.asset_key.to_user_string()}:{data.check_name}"] = data.passed
    return {"run": run, "steps": steps, "assets": assets, "checks": checks, "failures": failures}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    args = parser.parse_args()
    calls = CallLog()
    client_log = logging.getLogger("xero_pipelines.xero.client")
    client_log.setLevel(logging.INFO)
    client_log.addHandler(calls)
    started = time.perf_counter()
    instance = dg.DagsterInstance.ephemeral()
    result = import_job().execute_in_process(instance=instance, raise_on_error=False)
    success, run_id = result.success, result.run_id
    seconds = time.perf_counter() - started
    own, children = (
        resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    out = {
        "success": success,
        "seconds": seconds,
        "peak_rss_kib": own.ru_maxrss,
        "peak_rss_children_kib": children.ru_maxrss,
        "cpu_seconds": sum(u.ru_utime + u.ru_stime for u in (own, children)),
        "calls": calls.calls,
        **_events(instance, run_id),
    }
    with open(args.out, "w") as fh:
        json.dump(out, fh)
    sys.exit(0 if success else 1)


if __name__ == "__main__":
    main()
