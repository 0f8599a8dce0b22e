"""What a request sensor does on each tick, for either request table.

A tick only selects work; it never calls Xero:
1. follows the rows already `queued` to their runs in the Dagster instance, by the run
   key each row carries (the `dagster/run_key` tag): rows whose run failed, was
   canceled or ended without answering them, and rows whose run key never became a run
   within the grace period, go back to `pending`, or to `failed` after the last attempt;
2. unless Xero is disconnected, claims the oldest `pending` rows (`queued`, in batches)
   and asks for one run per batch, with a run key made of the ids and their attempt
   numbers: a re-evaluated tick or a restarted daemon asks for the same key, which
   Dagster launches once, and a retried request gets a new key. While Xero is
   disconnected, pending rows get the disconnected sentence instead, and wait.

`run_id` is the job's to write when it starts (`request_outcomes.claim_for_run`); the
sensor never writes it, so after a retry it still names the run that may have written to
Xero. The cursor remembers, per run key not yet seen as a run, when the sensor first
noticed it: the vanished-run clock. Settings come from the environment of the process
that evaluates the sensor (the code server).
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import dagster as dg
from dagster._core.storage.tags import RUN_KEY_TAG
from sqlalchemy import Engine

from xero_pipelines.db.request_outcomes import DISCONNECTED
from xero_pipelines.db.request_queue import (
    QueuedRow,
    RequestTable,
    claim_pending,
    note_pending,
    open_counts,
    queued_rows,
    requeue,
)
from xero_pipelines.domain.catalog import GROUP_TAG, OWNERS, REQUESTS_GROUP
from xero_pipelines.resources.crm import CrmDatabase
from xero_pipelines.sensors.run_tags import accounts_of_opportunities, organisation_tags, run_tags
from xero_pipelines.xero.tokens import current_connection

# Why a row's run did not answer it, by what the instance says of the run.
RUN_ENDED = {
    dg.DagsterRunStatus.FAILURE: "the run that was processing it failed",
    dg.DagsterRunStatus.CANCELED: "the run that was processing it was canceled",
    dg.DagsterRunStatus.SUCCESS: "the run that was processing it ended without answering it",
}
VANISHED = "the run asked for it never started"


@dataclass(frozen=True)
class RequestSensorSettings:
    """Tunables, each from an environment variable (defaults in brackets)."""

    interval_seconds: int = 30  # XERO_REQUEST_SENSOR_INTERVAL
    batch_size: int = 50  # XERO_REQUEST_BATCH_SIZE: requests per run
    max_attempts: int = 3  # XERO_REQUEST_MAX_ATTEMPTS: launches before `failed`
    max_runs_per_tick: int = 20  # XERO_REQUEST_MAX_RUNS_PER_TICK
    vanished_after_seconds: int = 300  # XERO_REQUEST_VANISHED_AFTER: grace for a new run
    # XERO_REQUEST_MAX_RUNTIME: Dagster's run monitoring cancels a run started longer ago
    # (`dagster/max_runtime`), so a run whose worker died does not hold its rows forever.
    max_runtime_seconds: int = 900

    ENV = {
        "interval_seconds": "XERO_REQUEST_SENSOR_INTERVAL",
        "batch_size": "XERO_REQUEST_BATCH_SIZE",
        "max_attempts": "XERO_REQUEST_MAX_ATTEMPTS",
        "max_runs_per_tick": "XERO_REQUEST_MAX_RUNS_PER_TICK",
        "vanished_after_seconds": "XERO_REQUEST_VANISHED_AFTER",
        "max_runtime_seconds": "XERO_REQUEST_MAX_RUNTIME",
    }

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> RequestSensorSettings:
        """Read the variables that are set; a value that is not a positive whole number
        is refused with the variable's name, so a typo fails loading, not a tick."""
        values = {}
        for name, variable in cls.ENV.items():
            raw = environ.get(variable, "").strip()
            if not raw:
                continue
            if not raw.isdigit() or int(raw) < 1:
                raise ValueError(f"{variable} must be a whole number of at least 1, not {raw!r}")
            values[name] = int(raw)
        return cls(**values)


@dataclass
class Cursor:
    """Run keys asked for but not yet seen as runs, with when they were first noticed."""

    unseen: dict[str, float] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str | None) -> Cursor:
        if not text:
            return cls()
        return cls(unseen={k: float(v) for k, v in json.loads(text).get("unseen", {}).items()})

    def dump(self) -> str:
        return json.dumps({"unseen": self.unseen}, sort_keys=True)


@dataclass(frozen=True)
class RequestJob:
    """The job a sensor launches and how to build its run config and tags."""

    job: dg.JobDefinition
    run_config: Callable[[list[int]], dict]
    subject_tag: str  # e.g. "crm_account_ids"

    @property
    def single_subject_tag(self) -> str:
        """The tag of a run about one subject, e.g. "crm_account_id"."""
        return self.subject_tag.removesuffix("s")


def disconnected(engine: Engine) -> bool:
    """True when no organisation is connected or its grant is lost (`needs_reconnect`):
    a run would only fail, so the queue waits for `xero-pipelines reconnect`."""
    with engine.connect() as conn:
        row = current_connection(conn)
    return row is None or bool(row.needs_reconnect) or row.token_ciphertext is None


def _runs_by_key(instance: dg.DagsterInstance, keys: Sequence[str]) -> dict[str, dg.DagsterRun]:
    if not keys:
        return {}
    found: dict[str, dg.DagsterRun] = {}
    for run in instance.get_runs(dg.RunsFilter(tags={RUN_KEY_TAG: list(keys)})):
        found.setdefault(run.tags[RUN_KEY_TAG], run)  # newest first
    return found


def final_sentence(attempts: int, reason: str, run_id: str | None) -> str:
    """The `error` of a request given up on: what happened, and what the user can do."""
    where = f" (Dagster run {run_id})" if run_id else ""
    return (
        f"Xero was not updated after {attempts} attempts because {reason}{where}: "
        "send the request again later, or ask an administrator to look at the run."
    )


@dataclass
class Review:
    """What step 1 of a tick did."""

    requeued: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class RequestTick:
    """One evaluation of a request sensor."""

    def __init__(
        self,
        context: dg.SensorEvaluationContext,
        engine: Engine,
        spec: RequestTable,
        settings: RequestSensorSettings,
        now: float,
    ) -> None:
        self.context, self.engine, self.spec = context, engine, spec
        self.settings, self.now = settings, now
        self.cursor = Cursor.parse(context.cursor)
        self.review = Review()

    def _give_back(self, rows: Sequence[QueuedRow], reason: str, run_id: str | None) -> None:
        for attempts in sorted({row.attempts for row in rows}):
            same = [row for row in rows if row.attempts == attempts]
            done = requeue(
                self.engine,
                self.spec,
                same,
                max_attempts=self.settings.max_attempts,
                failed_sentence=final_sentence(attempts, reason, run_id),
            )
            self.review.requeued += done.pending
            self.review.failed += done.failed
        self.review.notes.append(f"{len(rows)} request(s) of run {run_id or '?'}: {reason}")

    def review_queued(self) -> None:
        """Step 1: give back what a finished run left, or a run that never came."""
        waiting: dict[str | None, list[QueuedRow]] = {}
        for row in queued_rows(self.engine, self.spec):
            waiting.setdefault(row.run_key, []).append(row)
        runs = _runs_by_key(self.context.instance, [k for k in waiting if k])
        grace = self.settings.vanished_after_seconds
        unseen = {}
        for key, rows in waiting.items():
            run = runs.get(key) if key else None
            if run is not None:
                if run.status in RUN_ENDED:
                    self._give_back(rows, RUN_ENDED[run.status], run.run_id)
                continue
            noticed = self.cursor.unseen.get(key, self.now) if key else self.now - grace
            if self.now - noticed >= grace:
                self._give_back(rows, VANISHED, None)
            else:
                unseen[key] = noticed
        self.cursor.unseen = unseen

    def claim(self, target: RequestJob) -> list[dg.RunRequest]:
        """Step 2: pending rows → queued, one run request per batch."""
        batches = claim_pending(
            self.engine,
            self.spec,
            batch_size=self.settings.batch_size,
            max_batches=self.settings.max_runs_per_tick,
        )
        for batch in batches:
            self.cursor.unseen[batch.run_key] = self.now
        if not batches:
            return []
        organisation = organisation_tags(self.engine)
        accounts = None
        if target.subject_tag == "opportunity_ids":
            accounts = accounts_of_opportunities(
                self.engine, [i for b in batches for i in b.subject_ids]
            )
        return [
            dg.RunRequest(
                run_key=batch.run_key,
                run_config=target.run_config(list(batch.request_ids)),
                tags=run_tags(
                    self.spec,
                    target,
                    batch,
                    self.settings,
                    organisation,
                    None if accounts is None else [accounts.get(i) for i in batch.subject_ids],
                ),
            )
            for batch in batches
        ]

    def skip_reason(self, paused: bool) -> str:
        counts = open_counts(self.engine, self.spec)
        what = f"{self.spec.kind} requests"
        if paused:
            return f"{DISCONNECTED}; {counts['pending']} pending {what} wait."
        done = ""
        if self.review.requeued or self.review.failed:
            done = f" Gave back {len(self.review.requeued)}, failed {len(self.review.failed)}."
        return f"No pending {what} ({counts['queued']} queued in runs still going).{done}"


def evaluate(
    context: dg.SensorEvaluationContext,
    engine: Engine,
    spec: RequestTable,
    target: RequestJob,
    settings: RequestSensorSettings,
    now: float,
) -> dg.SensorResult:
    """One tick (see the module docstring)."""
    tick = RequestTick(context, engine, spec, settings, now)
    tick.review_queued()
    for note in tick.review.notes:
        context.log.info(note)
    paused = disconnected(engine)
    if paused:
        note_pending(engine, spec, DISCONNECTED)
    requests = [] if paused else tick.claim(target)
    if requests:
        return dg.SensorResult(run_requests=requests, cursor=tick.cursor.dump())
    return dg.SensorResult(skip_reason=tick.skip_reason(paused), cursor=tick.cursor.dump())


def request_sensor(
    name: str,
    spec: RequestTable,
    target: RequestJob,
    settings: RequestSensorSettings | None = None,
    clock: Callable[[], float] = time.time,
    description: str | None = None,
) -> dg.SensorDefinition:
    """A sensor over `spec` that launches `target.job`; `clock` is there for tests."""
    settings = settings or RequestSensorSettings.from_env()

    def _sensor(context: dg.SensorEvaluationContext, crm: CrmDatabase) -> dg.SensorResult:
        return evaluate(context, crm.engine(), spec, target, settings, clock())

    # Owners on sensors are a beta parameter in Dagster 1.13: it would warn at every load.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        return dg.sensor(
            name=name,
            job=target.job,
            minimum_interval_seconds=settings.interval_seconds,
            default_status=dg.DefaultSensorStatus.RUNNING,
            description=description,
            owners=list(OWNERS),
            tags={GROUP_TAG: REQUESTS_GROUP},
        )(_sensor)
