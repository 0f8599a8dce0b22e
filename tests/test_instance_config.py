"""The local instance settings in dagster.yaml load, and keep Xero runs one at a time."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg

ROOT = Path(__file__).resolve().parents[1]


def test_dagster_yaml_limits_xero_runs(tmp_path, monkeypatch):
    shutil.copy(ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    with dg.DagsterInstance.get() as instance:
        queue = instance.get_concurrency_config().run_queue_config
        assert queue.max_concurrent_runs == 4
        assert {"key": "xero_pipelines/xero", "limit": 1} in queue.tag_concurrency_limits
        assert instance.get_settings("telemetry") == {"enabled": False}
