"""The Xero connection's health checks (`assets/health.py`) on a real database (SQLite and
PostgreSQL) and a real Dagster instance: executed in a run as an operator would from the
UI, and recorded by `xero_health_sensor` without one."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
from dagster._core.storage.tags import RUN_KEY_TAG
from sqlalchemy import insert, update

from xero_pipelines.assets.health import (
    HealthSettings,
    health_sensor,
    xero_connection,
    xero_health_checks,
)
from xero_pipelines.db.models import XeroConnection, XeroDraftRequest, XeroExportRequest
from xero_pipelines.domain.health import (
    CONNECTION,
    DAY_BUDGET,
    REFRESH_TOKEN,
    STUCK_REQUESTS,
)
from xero_pipelines.resources.crm import CrmDatabase

NOW = datetime.now(UTC)  # data is placed relative to this; nothing asserts on the clock


@pytest.fixture
def crm(db_url) -> CrmDatabase:
    return CrmDatabase(url=db_url)


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


def connect(crm: CrmDatabase, **values) -> None:
    """A stored connection: healthy unless `values` say otherwise."""
    row = {
        "tenant_id": "tenant-1",
        "tenant_name": "Demo Company",
        "token_ciphertext": "encrypted, never read by the checks",
        "access_token_expires_at": NOW + timedelta(minutes=20),
        "day_limit_remaining": 4200,
        "last_call_at": NOW - timedelta(minutes=3),
        **values,
    }
    with crm.engine().begin() as conn:
        conn.execute(insert(XeroConnection.__table__).values(**row))


def break_connection(crm: CrmDatabase, **values) -> None:
    with crm.engine().begin() as conn:
        conn.execute(update(XeroConnection.__table__).values(**values))


def queue(crm: CrmDatabase, model, request_id: int, run_key: str, requested_ago: timedelta):
    subject = "crm_account_id" if model is XeroExportRequest else "opportunity_id"
    with crm.engine().begin() as conn:
        conn.execute(
            insert(model.__table__).values(
                id=request_id,
                status="queued",
                run_key=run_key,
                attempts=1,
                requested_at=NOW - requested_ago,
                **{subject: 500 + request_id},
            )
        )


@dg.op
def answering() -> None:
    """Stands in for a request job's run that is still going."""


@dg.job
def request_run() -> None:
    answering()


def execute_checks(crm: CrmDatabase, instance) -> dict[str, dg.AssetCheckEvaluation]:
    """Run the checks as the UI's "Execute" does: a run of the checks alone."""
    defs = dg.Definitions(
        assets=[xero_connection],
        asset_checks=[xero_health_checks],
        jobs=[
            dg.define_asset_job("health", selection=dg.AssetSelection.checks(xero_health_checks))
        ],
        resources={"crm": crm},
    )
    result = defs.resolve_job_def("health").execute_in_process(instance=instance)
    assert result.success
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_a_healthy_connection_passes_every_check_in_a_run(crm, instance):
    connect(crm)

    found = execute_checks(crm, instance)

    assert set(found) == {CONNECTION, REFRESH_TOKEN, DAY_BUDGET, STUCK_REQUESTS}
    assert all(e.passed for e in found.values())
    assert found[CONNECTION].description == "Connected to Demo Company."
    assert found[DAY_BUDGET].metadata["day_limit_remaining"].value == 4200


def test_a_lost_grant_an_old_token_and_a_spent_budget_say_what_to_run(crm, instance):
    connect(
        crm,
        access_token_expires_at=NOW - timedelta(days=50),  # issued 50 days ago: 10 left
        day_limit_remaining=120,
    )
    found = execute_checks(crm, instance)
    assert not found[REFRESH_TOKEN].passed
    assert found[REFRESH_TOKEN].severity == dg.AssetCheckSeverity.WARN
    assert "`xero-pipelines status`" in found[REFRESH_TOKEN].description
    assert not found[DAY_BUDGET].passed
    assert found[DAY_BUDGET].severity == dg.AssetCheckSeverity.WARN
    assert "Only 120 of Xero's 5000 calls a day are left" in found[DAY_BUDGET].description
    assert found[CONNECTION].passed

    break_connection(crm, needs_reconnect=True, reconnect_reason="Xero answered 403")
    found = execute_checks(crm, instance)

    assert not found[CONNECTION].passed
    assert found[CONNECTION].severity == dg.AssetCheckSeverity.ERROR
    assert "(Xero answered 403)" in found[CONNECTION].description
    assert "`xero-pipelines reconnect`" in found[CONNECTION].description


def test_nothing_connected_is_an_error_naming_connect(crm, instance):
    found = execute_checks(crm, instance)
    assert not found[CONNECTION].passed
    assert "`xero-pipelines connect`" in found[CONNECTION].description


# ---- the sensor --------------------------------------------------------------------------


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def tick(sensor, instance, crm, cursor=None) -> dg.SensorResult:
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"crm": crm})
    result = sensor(context)
    assert isinstance(result, dg.SensorResult)
    return result


def reported(result: dg.SensorResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.asset_events}


def test_the_sensor_records_results_when_they_change_and_hourly(crm, instance):
    connect(crm)
    clock = Clock(NOW)
    sensor = health_sensor("health_with_clock", HealthSettings(), clock)

    first = tick(sensor, instance, crm)
    assert set(reported(first)) == {CONNECTION, REFRESH_TOKEN, DAY_BUDGET, STUCK_REQUESTS}
    assert first.skip_reason.skip_message.startswith("Healthy: Connected to Demo Company.")

    clock.now += timedelta(minutes=5)
    quiet = tick(sensor, instance, crm, first.cursor)
    assert quiet.asset_events == []  # nothing changed, recorded 5 minutes ago

    break_connection(crm, needs_reconnect=True, reconnect_reason="invalid_grant")
    clock.now += timedelta(minutes=5)
    changed = tick(sensor, instance, crm, quiet.cursor)
    assert set(reported(changed)) == {CONNECTION}
    assert not reported(changed)[CONNECTION].passed
    assert "ERROR xero_connection_usable: Xero needs a reconnect" in (
        changed.skip_reason.skip_message
    )

    clock.now += timedelta(hours=1)
    hourly = tick(sensor, instance, crm, changed.cursor)
    assert set(reported(hourly)) == {CONNECTION, REFRESH_TOKEN, DAY_BUDGET, STUCK_REQUESTS}


def test_what_the_sensor_reports_lands_on_the_assets_checks(crm, instance):
    """As the daemon does with a tick's asset events: the results show on the checks."""
    connect(crm, day_limit_remaining=10)
    result = tick(health_sensor(), instance, crm)
    for event in result.asset_events:
        instance.report_runless_asset_event(event)

    key = dg.AssetCheckKey(dg.AssetKey("xero_connection"), DAY_BUDGET)
    record = instance.event_log_storage.get_asset_check_summary_records([key])[key]
    evaluation = record.last_check_execution_record.event.asset_check_evaluation
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
    assert "Only 10 of" in evaluation.description


def test_stuck_requests_are_timed_from_their_runs_creation(crm, instance):
    """A row queued for a run created now is not stuck for an hour, however old the
    request; a row whose run never came is timed from the request."""
    connect(crm)
    queue(crm, XeroExportRequest, 7, "export-7-7-n1-abc", requested_ago=timedelta(days=3))
    run = instance.create_run_for_job(
        request_run, tags={RUN_KEY_TAG: "export-7-7-n1-abc"}, status=dg.DagsterRunStatus.STARTED
    )
    created = instance.get_run_record_by_id(run.run_id).create_timestamp
    created = created if created.tzinfo else created.replace(tzinfo=UTC)
    clock = Clock(created + timedelta(minutes=30))
    sensor = health_sensor("stuck_with_clock", HealthSettings(stuck_after_seconds=3600), clock)

    assert reported(tick(sensor, instance, crm))[STUCK_REQUESTS].passed

    queue(crm, XeroDraftRequest, 3, "draft-3-3-n1-def", requested_ago=timedelta(hours=2))
    found = reported(tick(sensor, instance, crm))[STUCK_REQUESTS]
    assert not found.passed and found.severity == dg.AssetCheckSeverity.ERROR
    assert "draft 3." in found.description and "export 7" not in found.description
    assert "`xero-pipelines requests retry --kind draft 3`" in found.description

    clock.now = created + timedelta(minutes=61)
    found = reported(tick(sensor, instance, crm))[STUCK_REQUESTS]
    assert "draft 3; export 7." in found.description
    assert found.metadata["stuck"].value == 2


def test_settings_come_from_the_environment():
    assert HealthSettings.from_env({}) == HealthSettings()
    got = HealthSettings.from_env({"XERO_REQUEST_STUCK_AFTER": "600", "XERO_HEALTH_INTERVAL": "60"})
    assert (got.stuck_after_seconds, got.interval_seconds) == (600, 60)
    with pytest.raises(ValueError, match="XERO_REQUEST_STUCK_AFTER must be a whole number"):
        HealthSettings.from_env({"XERO_REQUEST_STUCK_AFTER": "1h"})


def test_the_cursor_survives_a_round_trip(crm, instance):
    connect(crm)
    result = tick(health_sensor(), instance, crm)
    assert set(json.loads(result.cursor)) == {CONNECTION, REFRESH_TOKEN, DAY_BUDGET, STUCK_REQUESTS}
