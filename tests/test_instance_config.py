"""The local instance settings in dagster.yaml load: the queued coordinator, one import
at a time (Xero's calls in flight are held per call, by the call slots)."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
from dagster._core.run_coordinator import QueuedRunCoordinator

ROOT = Path(__file__).resolve().parents[1]


def test_dagster_yaml_limits_xero_runs(tmp_path, monkeypatch):
    shutil.copy(ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    with dg.DagsterInstance.get() as instance:
        queue = instance.get_concurrency_config().run_queue_config
        assert queue.max_concurrent_runs == 6
        limits = queue.tag_concurrency_limits
        assert limits == [{"key": "xero_pipelines/xero", "value": "import", "limit": 1}]
        coordinator = instance.run_coordinator
        assert isinstance(coordinator, QueuedRunCoordinator)
        assert coordinator._dequeue_interval_seconds == 1  # no public reader in 1.13
        # runs are launched side by side: each launch waits for its process to load
        assert coordinator._dequeue_use_threads is True
        assert instance.get_settings("sensors")["use_threads"] is True
        assert instance.get_settings("telemetry") == {"enabled": False}
