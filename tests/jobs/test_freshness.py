"""The summaries' freshness check follows the import schedule (`jobs/imports.py`): it warns
once the last materialisation is older than twice the schedule's interval, and its sensor
runs it when it could have turned stale. A real instance; the clock is Dagster's own test
clock (`freeze_time`), since the check reads Dagster's time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
from dagster._core.test_utils import freeze_time

from xero_pipelines.jobs.imports import (
    SUMMARIES,
    freshness_window,
    summaries_freshness_check,
    xero_summaries_freshness_sensor,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("cron", "window"),
    [
        ("0 * * * *", timedelta(hours=2)),
        ("*/15 * * * *", timedelta(minutes=30)),
        ("0 6 * * *", timedelta(days=2)),
        ("0 6,18 * * *", timedelta(days=1)),
    ],
)
def test_the_window_is_twice_the_schedules_interval(cron, window):
    assert freshness_window(cron) == window


def run_check(instance) -> dg.AssetCheckEvaluation:
    defs = dg.Definitions(
        assets=[dg.AssetSpec(SUMMARIES)],
        asset_checks=[summaries_freshness_check],
        jobs=[
            dg.define_asset_job(
                "freshness", selection=dg.AssetSelection.checks(summaries_freshness_check)
            )
        ],
    )
    result = defs.resolve_job_def("freshness").execute_in_process(instance=instance)
    [evaluation] = result.get_asset_check_evaluations()
    return evaluation


@pytest.mark.parametrize(
    ("after", "fresh"),
    [(timedelta(hours=1, minutes=59), True), (timedelta(hours=2, minutes=1), False)],
)
def test_summaries_warn_after_two_missed_hourly_imports(after, fresh):
    with dg.instance_for_test() as instance:
        with freeze_time(T0):
            instance.report_runless_asset_event(dg.AssetMaterialization(SUMMARIES))
        with freeze_time(T0 + after):
            evaluation = run_check(instance)
    assert evaluation.passed is fresh
    assert evaluation.severity == dg.AssetCheckSeverity.WARN


def test_the_sensor_runs_the_check_only_when_it_could_be_stale():
    with dg.instance_for_test() as instance:
        with freeze_time(T0):
            instance.report_runless_asset_event(dg.AssetMaterialization(SUMMARIES))
            first = xero_summaries_freshness_sensor(dg.build_sensor_context(instance=instance))
            assert [list(r.asset_check_keys) for r in _requests(first)] == [
                list(summaries_freshness_check.check_keys)
            ]
            run_check(instance)  # passes: fresh until T0 + 2h
        with freeze_time(T0 + timedelta(hours=1)):
            idle = xero_summaries_freshness_sensor(dg.build_sensor_context(instance=instance))
            assert _requests(idle) == []
        with freeze_time(T0 + timedelta(hours=2, minutes=5)):
            due = xero_summaries_freshness_sensor(dg.build_sensor_context(instance=instance))
            assert len(_requests(due)) == 1


def _requests(result) -> list[dg.RunRequest]:
    if isinstance(result, dg.RunRequest):
        return [result]
    if isinstance(result, dg.SensorResult):
        return list(result.run_requests or [])
    return []


def test_the_import_job_leaves_the_freshness_check_to_its_sensor():
    """In the import run it could run before the summaries it judges."""
    from xero_pipelines import defs

    job = defs.resolve_job_def("xero_import_job")
    in_job = job.asset_layer.asset_graph.asset_check_keys
    assert dg.AssetCheckKey(SUMMARIES, "summaries_cover_the_links") in in_job
    assert not in_job & set(summaries_freshness_check.check_keys)
