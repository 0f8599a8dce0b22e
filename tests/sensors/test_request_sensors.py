"""The request sensors' ticks, through `build_sensor_context` on a real Dagster instance
and a real database (SQLite and PostgreSQL). A sensor never calls Xero, so no sandbox."""

from __future__ import annotations

import json
from dataclasses import dataclass

import dagster as dg
import pytest
from dagster._core.storage.tags import RUN_KEY_TAG
from sqlalchemy import insert, select, update

from xero_pipelines.db.mirrors import XeroOrganisationRow
from xero_pipelines.db.models import CrmAccount, CrmOpportunity, XeroConnection
from xero_pipelines.db.request_outcomes import DISCONNECTED
from xero_pipelines.db.request_queue import DRAFT_REQUESTS, EXPORT_REQUESTS
from xero_pipelines.jobs.draft import draft_run_config, xero_draft_job
from xero_pipelines.jobs.export import export_run_config, xero_export_job
from xero_pipelines.resources.crm import CrmDatabase
from xero_pipelines.sensors.request_sensor import RequestSensorSettings, request_sensor
from xero_pipelines.sensors.requests import (
    EXPORT_TARGET,
    xero_draft_request_sensor,
    xero_export_request_sensor,
)

# --- a database, an instance, and a way to tick -----------------------------------------


@pytest.fixture
def crm(db_url) -> CrmDatabase:
    """The CRM database, connected to an organisation (the sensor reads only that flag)."""
    crm = CrmDatabase(url=db_url)
    with crm.engine().begin() as conn:
        conn.execute(
            insert(XeroConnection.__table__).values(
                tenant_id="tenant-1", tenant_name="Demo", token_ciphertext="not read by sensors"
            )
        )
    return crm


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


@dataclass
class Ticker:
    """Evaluates a sensor tick after tick, carrying the cursor as the daemon does."""

    sensor: dg.SensorDefinition
    instance: dg.DagsterInstance
    crm: CrmDatabase
    cursor: str | None = None

    def tick(self) -> dg.SensorResult:
        context = dg.build_sensor_context(
            instance=self.instance, cursor=self.cursor, resources={"crm": self.crm}
        )
        result = self.sensor(context)
        assert isinstance(result, dg.SensorResult)
        self.cursor = result.cursor
        return result


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def add_requests(crm, spec=EXPORT_REQUESTS, n=1, **values) -> list[int]:
    t = spec.table
    with crm.engine().begin() as conn:
        first = conn.execute(select(t.c.id).order_by(t.c.id.desc()).limit(1)).scalar() or 0
        rows = [{"id": first + i + 1, spec.subject: 500 + first + i, **values} for i in range(n)]
        conn.execute(insert(t), rows)
    return [row["id"] for row in rows]


def rows(crm, spec=EXPORT_REQUESTS) -> dict[int, dict]:
    t = spec.table
    with crm.engine().connect() as conn:
        return {row.id: row._asdict() for row in conn.execute(select(t))}


# --- stand-ins for what happens to a run outside the sensor ----------------------------


@dg.op
def crash() -> None:
    raise RuntimeError("the run worker went down")


@dg.job
def crashing_job() -> None:
    crash()


@dg.op
def answer_nothing() -> None:
    """A run that ends well but never touched its requests."""


@dg.job
def silent_job() -> None:
    answer_nothing()


def make_run(instance, run_key: str, how: str) -> str:
    """A run in the instance for `run_key`, ending as `how` says; returns its id."""
    tags = {RUN_KEY_TAG: run_key}
    if how == "failed":
        result = crashing_job.execute_in_process(instance=instance, tags=tags, raise_on_error=False)
        return result.run_id
    if how == "succeeded":
        return silent_job.execute_in_process(instance=instance, tags=tags).run_id
    statuses = {
        "canceled": dg.DagsterRunStatus.NOT_STARTED,
        "started": dg.DagsterRunStatus.STARTED,
        "not started": dg.DagsterRunStatus.NOT_STARTED,
    }
    run = instance.create_run_for_job(silent_job, tags=tags, status=statuses[how])
    if how == "canceled":
        instance.report_run_canceled(run)
    return run.run_id


# --- cases -------------------------------------------------------------------------------


def test_idle_tick_says_why_it_skipped(crm, instance):
    result = Ticker(xero_export_request_sensor, instance, crm).tick()
    assert result.run_requests in (None, [])
    assert result.skip_reason.skip_message == (
        "No pending export requests (0 queued in runs still going)."
    )


def test_120_pending_requests_become_3_runs_of_at_most_50(crm, instance):
    ids = add_requests(crm, n=120)
    add_requests(crm, n=5, status="done")
    ticker = Ticker(xero_export_request_sensor, instance, crm)

    result = ticker.tick()

    requests = result.run_requests
    sizes = [int(r.tags["xero_pipelines/requests"]) for r in requests]
    assert sizes == [50, 50, 20]
    assert len({r.run_key for r in requests}) == 3
    for request, chunk in zip(requests, (ids[:50], ids[50:100], ids[100:]), strict=True):
        assert request.run_config == export_run_config(chunk)
        # ranges, so a batch of 50 fits Dagster's tag length
        assert request.tags["xero_pipelines/request_ids"] == f"{chunk[0]}-{chunk[-1]}"
        assert request.tags["xero_pipelines/crm_account_ids"] == (
            f"{chunk[0] + 499}-{chunk[-1] + 499}"
        )
        assert "xero_pipelines/crm_account_id" not in request.tags  # many accounts
        assert request.tags["xero_pipelines/attempt"] == "1"
        assert request.tags["dagster/max_runtime"] == "900"  # run monitoring's limit
    state = rows(crm)
    keys = {r.run_key: r for r in requests}
    for request_id in ids:
        assert state[request_id]["status"] == "queued"
        assert state[request_id]["attempts"] == 1
        assert (
            request_id
            in keys[state[request_id]["run_key"]].run_config["ops"]["process_export_requests"][
                "config"
            ]["request_ids"]
        )
    assert set(json.loads(result.cursor)["unseen"]) == set(keys)


def test_later_ticks_launch_only_what_is_new(crm, instance):
    add_requests(crm, n=60)
    ticker = Ticker(xero_export_request_sensor, instance, crm)
    first = {r.run_key for r in ticker.tick().run_requests}

    again = ticker.tick()
    assert again.run_requests in (None, [])
    assert "60 queued in runs still going" in again.skip_reason.skip_message

    new = add_requests(crm, n=7)
    third = ticker.tick().run_requests
    assert [r.run_config for r in third] == [export_run_config(new)]
    assert third[0].run_key not in first


def test_a_re_evaluated_tick_launches_nothing_twice(crm, instance):
    """The daemon may evaluate a tick again with the old cursor (it died before saving
    it): the rows are queued already, so only the first evaluation's run keys exist."""
    add_requests(crm, n=30)
    first = Ticker(xero_export_request_sensor, instance, crm)
    launched = first.tick().run_requests
    replay = Ticker(xero_export_request_sensor, instance, crm, cursor=None).tick()
    assert len(launched) == 1 and replay.run_requests in (None, [])


def test_batch_size_and_runs_per_tick_come_from_the_environment(crm, instance, monkeypatch):
    monkeypatch.setenv("XERO_REQUEST_BATCH_SIZE", "10")
    monkeypatch.setenv("XERO_REQUEST_MAX_RUNS_PER_TICK", "2")
    sensor = request_sensor("small_batches", EXPORT_REQUESTS, EXPORT_TARGET)
    add_requests(crm, n=35)
    ticker = Ticker(sensor, instance, crm)

    def sizes() -> list[int]:
        launched = ticker.tick().run_requests or []
        return [int(r.tags["xero_pipelines/requests"]) for r in launched]

    assert sizes() == [10, 10]
    assert sizes() == [10, 5]
    assert sizes() == []


def test_settings_refuse_what_is_not_a_positive_whole_number():
    assert RequestSensorSettings.from_env({}) == RequestSensorSettings()
    short = RequestSensorSettings.from_env({"XERO_REQUEST_SENSOR_INTERVAL": " 2 "})
    assert short.interval_seconds == 2
    for bad in ("0", "-1", "1.5", "thirty"):
        with pytest.raises(ValueError, match="XERO_REQUEST_MAX_ATTEMPTS must be a whole number"):
            RequestSensorSettings.from_env({"XERO_REQUEST_MAX_ATTEMPTS": bad})


def test_while_xero_is_disconnected_requests_wait_and_say_why(crm, instance):
    ids = add_requests(crm, n=3)
    with crm.engine().begin() as conn:
        conn.execute(update(XeroConnection.__table__).values(needs_reconnect=True))
    ticker = Ticker(xero_export_request_sensor, instance, crm)

    result = ticker.tick()

    assert result.run_requests in (None, [])
    assert result.skip_reason.skip_message == (
        "Xero is disconnected: an administrator must reconnect; 3 pending export requests wait."
    )
    assert {(r["status"], r["error"], r["attempts"]) for r in rows(crm).values()} == {
        ("pending", DISCONNECTED, 0)
    }
    with crm.engine().begin() as conn:
        conn.execute(update(XeroConnection.__table__).values(needs_reconnect=False))
    [request] = ticker.tick().run_requests
    assert request.run_config == export_run_config(ids)


# How the run of a batch ends, and what the next tick does with its rows:
#   relaunched: back to pending and claimed again at once (attempt 2, a new run key);
#   failed: given up (the last attempt); waiting: left queued.
RUN_OUTCOMES = [
    # (case, run, attempts before the first claim, seconds between ticks, expected)
    ("run failed", "failed", 0, 30, "relaunched"),
    ("run canceled", "canceled", 0, 30, "relaunched"),
    ("run ended without answering", "succeeded", 0, 30, "relaunched"),
    ("run still going", "started", 0, 3600, "waiting"),
    ("run created, not launched yet", "not started", 0, 3600, "waiting"),
    ("run failed on the last attempt", "failed", 2, 30, "failed"),
    ("run canceled on the last attempt", "canceled", 2, 30, "failed"),
    ("no run yet, within the grace period", None, 0, 299, "waiting"),
    ("no run ever, after the grace period", None, 0, 300, "relaunched"),
    ("no run ever, on the last attempt", None, 2, 300, "failed"),
]

FINAL = {
    "failed": "the run that was processing it failed (Dagster run {run_id})",
    "canceled": "the run that was processing it was canceled (Dagster run {run_id})",
    None: "the run asked for it never started",
}


@pytest.mark.parametrize(
    ("run", "attempts", "elapsed", "expected"),
    [case[1:] for case in RUN_OUTCOMES],
    ids=[case[0] for case in RUN_OUTCOMES],
)
def test_what_a_tick_does_with_the_rows_of_a_finished_or_missing_run(
    crm, instance, run, attempts, elapsed, expected
):
    clock = Clock()
    sensor = request_sensor(
        "export_with_clock",
        EXPORT_REQUESTS,
        EXPORT_TARGET,
        RequestSensorSettings(vanished_after_seconds=300),
        clock=clock,
    )
    ids = add_requests(crm, n=3, attempts=attempts)
    ticker = Ticker(sensor, instance, crm)
    [first] = ticker.tick().run_requests
    run_id = make_run(instance, first.run_key, run) if run else None
    clock.now += elapsed

    result = ticker.tick()

    state = rows(crm)
    launched = result.run_requests or []
    if expected == "relaunched":
        [again] = launched
        assert again.run_key != first.run_key
        assert again.run_config == first.run_config
        assert again.tags["xero_pipelines/attempt"] == str(attempts + 2)
        assert {(state[i]["status"], state[i]["attempts"]) for i in ids} == {
            ("queued", attempts + 2)
        }
        assert {state[i]["run_key"] for i in ids} == {again.run_key}
    elif expected == "failed":
        assert launched == []
        sentence = (
            f"Xero was not updated after 3 attempts because {FINAL[run].format(run_id=run_id)}: "
            "send the request again later, or ask an administrator to look at the run."
        )
        assert {(state[i]["status"], state[i]["error"]) for i in ids} == {("failed", sentence)}
        assert all(state[i]["processed_at"] is not None for i in ids)
        assert "Gave back 0, failed 3." in result.skip_reason.skip_message
    else:
        assert launched == []
        assert {(state[i]["status"], state[i]["run_key"]) for i in ids} == {
            ("queued", first.run_key)
        }


def test_rows_a_job_answered_are_not_requeued_when_its_run_fails(crm, instance):
    ids = add_requests(crm, n=3)
    ticker = Ticker(xero_export_request_sensor, instance, crm)
    [first] = ticker.tick().run_requests
    t = EXPORT_REQUESTS.table
    with crm.engine().begin() as conn:  # the job finished one and failed one, then crashed
        conn.execute(update(t).where(t.c.id == ids[0]).values(status="done"))
        conn.execute(update(t).where(t.c.id == ids[1]).values(status="failed", error="No name."))
    make_run(instance, first.run_key, "failed")

    [again] = ticker.tick().run_requests

    assert again.run_config == export_run_config([ids[2]])
    state = rows(crm)
    assert [state[i]["status"] for i in ids] == ["done", "failed", "queued"]


def test_the_two_sensors_as_the_code_location_defines_them():
    for sensor, job, spec in (
        (xero_export_request_sensor, xero_export_job, EXPORT_REQUESTS),
        (xero_draft_request_sensor, xero_draft_job, DRAFT_REQUESTS),
    ):
        assert sensor.job_name == job.name
        assert sensor.minimum_interval_seconds == 30
        assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
        assert spec.name in sensor.description
    assert draft_run_config([3, 1]) != export_run_config([3, 1])


def test_draft_requests_run_with_their_opportunities(crm, instance):
    ids = add_requests(crm, DRAFT_REQUESTS, n=2, revenue_account_code="200")
    [request] = Ticker(xero_draft_request_sensor, instance, crm).tick().run_requests
    assert request.run_config == draft_run_config(ids)
    assert request.tags["xero_pipelines/opportunity_ids"] == "500,501"
    assert request.run_key.startswith("draft-")
    assert {r["status"] for r in rows(crm, DRAFT_REQUESTS).values()} == {"queued"}


# --- what the run's tags tell an operator ------------------------------------------------


def test_a_run_names_its_organisation_and_its_one_account(crm, instance):
    with crm.engine().begin() as conn:
        conn.execute(
            insert(XeroOrganisationRow.__table__).values(
                tenant_id="tenant-1", name="Demo", short_code="!xK2q9", raw={}
            )
        )
    t = EXPORT_REQUESTS.table
    with crm.engine().begin() as conn:  # an export and an update for one account
        conn.execute(insert(t), [{"id": 1, "crm_account_id": 77}, {"id": 2, "crm_account_id": 77}])

    [request] = Ticker(xero_export_request_sensor, instance, crm).tick().run_requests

    tags = request.tags
    assert tags["xero_pipelines/xero_tenant_id"] == "tenant-1"
    assert tags["xero_pipelines/xero_organisation"] == "Demo"
    assert tags["xero_pipelines/xero_short_code"] == "!xK2q9"
    assert tags["xero_pipelines/crm_account_id"] == "77"  # the runs filter matches it exactly
    assert tags["xero_pipelines/crm_account_ids"] == "77"
    assert tags["xero_pipelines/request_ids"] == "1,2"
    assert tags["xero_pipelines/group"] == "requests"
    launched = instance.create_run_for_job(
        xero_export_job, run_config=request.run_config, tags=tags
    )
    found = instance.get_runs(dg.RunsFilter(tags={"xero_pipelines/crm_account_id": "77"}))
    assert [r.run_id for r in found] == [launched.run_id]


def test_a_batch_of_50_scattered_accounts_keeps_every_tag_within_dagsters_length(crm, instance):
    t = EXPORT_REQUESTS.table
    accounts = [1_000_003 + 97 * i for i in range(50)]
    with crm.engine().begin() as conn:
        conn.execute(
            insert(t), [{"id": 1 + 3 * i, "crm_account_id": a} for i, a in enumerate(accounts)]
        )

    [request] = Ticker(xero_export_request_sensor, instance, crm).tick().run_requests

    assert all(len(value) <= 63 for value in request.tags.values()), request.tags
    listed, more = request.tags["xero_pipelines/crm_account_ids"].split(" +")
    shown = listed.split(",")
    assert shown == [str(a) for a in accounts[: len(shown)]]
    assert more == f"{50 - len(shown)} more"
    assert request.tags["xero_pipelines/requests"] == "50"
    assert "xero_pipelines/crm_account_id" not in request.tags
    assert len(request.run_config["ops"]["process_export_requests"]["config"]["request_ids"]) == 50


def test_draft_runs_also_name_the_accounts_of_their_opportunities(crm, instance):
    with crm.engine().begin() as conn:
        conn.execute(insert(CrmAccount.__table__).values(id=9, name="Acme"))
        conn.execute(
            insert(CrmOpportunity.__table__),
            [{"id": 500, "account_id": 9, "name": "A"}, {"id": 501, "account_id": 9, "name": "B"}],
        )
    add_requests(crm, DRAFT_REQUESTS, n=2, revenue_account_code="200")

    [request] = Ticker(xero_draft_request_sensor, instance, crm).tick().run_requests

    assert request.tags["xero_pipelines/opportunity_ids"] == "500,501"
    assert "xero_pipelines/opportunity_id" not in request.tags
    assert request.tags["xero_pipelines/crm_account_ids"] == "9"
    assert request.tags["xero_pipelines/crm_account_id"] == "9"
