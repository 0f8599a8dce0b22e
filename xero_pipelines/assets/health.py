"""`xero_connection` and its health checks: what an operator must act on before runs fail.

`xero_connection` is the `xero_connections` row. It is written outside Dagster's runs of
it (`xero-pipelines connect` / `reconnect`, and every run's token store, which rotates the
tokens and records Xero's limit headers), so it is an external asset: shown in the
`integration` group, never materialised by Dagster. Its four checks (`domain.health`)
read that row and the request tables, and cost no Xero call:

- `xero_health_sensor` evaluates them every `XERO_HEALTH_INTERVAL` seconds (300) without
  a run, and records a result in the asset's check history when one changes pass/fail,
  and at least hourly; a tick's skip reason says what is wrong;
- an operator can also execute them in the UI (the checks' "Execute") after acting on one.

Requests count as stuck after `XERO_REQUEST_STUCK_AFTER` seconds (3600) in `queued`,
measured from the creation of the run asked for them (the request sensor's run key), or
from the request itself when no such run exists.
"""

# No `from __future__ import annotations`: Dagster checks the check's `context` annotation.
import json
import os
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import dagster as dg
from dagster._core.storage.tags import RUN_KEY_TAG
from sqlalchemy import Connection, select, text

from xero_pipelines.assets.catalog import OWNER_LIST, schema_metadata, xero_kinds
from xero_pipelines.db.models import OPEN_REQUESTS, XeroConnection
from xero_pipelines.db.request_queue import DRAFT_REQUESTS, EXPORT_REQUESTS
from xero_pipelines.db.types import utcnow
from xero_pipelines.domain import health as rules
from xero_pipelines.domain.catalog import GROUP_TAG, INTEGRATION_GROUP
from xero_pipelines.resources.crm import CrmDatabase
from xero_pipelines.xero.pacing import XERO_DAY_LIMIT
from xero_pipelines.xero.tokens import current_connection

XERO_CONNECTION = dg.AssetKey("xero_connection")
REPORT_EVERY = timedelta(hours=1)
SEVERITY = {rules.Severity.WARN: dg.AssetCheckSeverity.WARN}

xero_connection = dg.AssetSpec(
    XERO_CONNECTION,
    group_name=INTEGRATION_GROUP,
    kinds=xero_kinds(),
    owners=OWNER_LIST,
    description=(
        "The connected Xero organisation: its OAuth2 grant (tokens encrypted at rest), "
        "whether it needs a reconnect, and the API limits Xero reported last. Written by "
        "`xero-pipelines connect`/`reconnect` and by every run that calls Xero, never "
        "materialised here; its checks cost no Xero call."
    ),
    metadata=schema_metadata(
        XeroConnection.__table__,
        {
            "token_ciphertext": "The OAuth2 token set, Fernet-encrypted (never shown).",
            "access_token_expires_at": "When the access token expires; a token set is "
            "issued 30 minutes before, which dates the refresh token in use.",
            "day_limit_remaining": "Xero's last X-DayLimit-Remaining.",
            "min_limit_remaining": "Xero's last X-MinLimit-Remaining.",
            "last_call_at": "When a Xero call last succeeded.",
        },
    ),
)

CHECK_DESCRIPTIONS = {
    rules.CONNECTION: "Error when no organisation is connected or Xero needs a reconnect "
    "(the message names the command).",
    rules.REFRESH_TOKEN: "Warns when the refresh token will lapse unused within 14 days "
    "(Xero drops refresh tokens unused for 60 days).",
    rules.DAY_BUDGET: "Warns when Xero's last X-DayLimit-Remaining of the past 24 hours is "
    "under 20% of the 5,000 calls a day.",
    rules.STUCK_REQUESTS: "Error when export or draft requests have stayed `queued` past "
    "XERO_REQUEST_STUCK_AFTER seconds (3600).",
}
HEALTH_SPECS = [
    dg.AssetCheckSpec(name, asset=XERO_CONNECTION, description=f"{description} No Xero call.")
    for name, description in CHECK_DESCRIPTIONS.items()
]


@dataclass(frozen=True)
class HealthSettings:
    interval_seconds: int = 300  # XERO_HEALTH_INTERVAL
    stuck_after_seconds: int = 3600  # XERO_REQUEST_STUCK_AFTER
    day_limit: int = XERO_DAY_LIMIT

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "HealthSettings":
        """Read the variables that are set; refuse what is not a positive whole number,
        naming the variable, so a typo fails loading instead of every tick."""
        values = {}
        for name, variable in (
            ("interval_seconds", "XERO_HEALTH_INTERVAL"),
            ("stuck_after_seconds", "XERO_REQUEST_STUCK_AFTER"),
        ):
            raw = environ.get(variable, "").strip()
            if raw:
                if not raw.isdigit() or int(raw) < 1:
                    raise ValueError(
                        f"{variable} must be a whole number of at least 1, not {raw!r}"
                    )
                values[name] = int(raw)
        return cls(**values)


# ---- the facts -----------------------------------------------------------------------------


def connection_facts(conn: Connection) -> rules.ConnectionFacts:
    row = current_connection(conn)
    if row is None:
        return rules.ConnectionFacts(connected=False)
    return rules.ConnectionFacts(
        connected=True,
        tenant_name=row.tenant_name,
        has_tokens=row.token_ciphertext is not None,
        needs_reconnect=bool(row.needs_reconnect),
        reconnect_reason=row.reconnect_reason,
        access_token_expires_at=row.access_token_expires_at,
        day_limit_remaining=row.day_limit_remaining,
        last_call_at=row.last_call_at,
    )


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def runs_created_at(instance: dg.DagsterInstance, keys: set[str]) -> dict[str, datetime]:
    """When the run of each run key was created (the sensor claims its rows just before)."""
    if not keys:
        return {}
    created: dict[str, datetime] = {}
    for record in instance.get_run_records(dg.RunsFilter(tags={RUN_KEY_TAG: sorted(keys)})):
        key = record.dagster_run.tags.get(RUN_KEY_TAG)
        if key:
            created.setdefault(key, _aware(record.create_timestamp))  # newest first
    return created


def queued_requests(conn: Connection, instance: dg.DagsterInstance) -> list[rules.QueuedRequest]:
    """Every `queued` row of both request tables, with since when (see the module)."""
    found = []
    for spec in (EXPORT_REQUESTS, DRAFT_REQUESTS):
        t = spec.table
        stmt = select(t.c.id, t.c.run_key, t.c.requested_at).where(
            text(OPEN_REQUESTS), t.c.status == "queued"
        )
        found += [(spec.kind, *row) for row in conn.execute(stmt)]
    created = runs_created_at(instance, {key for _, _, key, _ in found if key})
    return [
        rules.QueuedRequest(kind, request_id, created.get(key or "", requested_at))
        for kind, request_id, key, requested_at in found
    ]


def evaluate_health(
    crm: CrmDatabase, instance: dg.DagsterInstance, now: datetime, settings: HealthSettings
) -> list[rules.Finding]:
    with crm.engine().connect() as conn:
        facts = connection_facts(conn)
        queued = queued_requests(conn, instance)
    return rules.health(
        facts,
        queued,
        now,
        day_limit=settings.day_limit,
        stuck_after=timedelta(seconds=settings.stuck_after_seconds),
    )


# ---- as Dagster shows them -----------------------------------------------------------------


def _metadata(finding: rules.Finding) -> dict[str, object]:
    return {k: v for k, v in finding.metadata.items() if v is not None}


def _as(kind, finding: rules.Finding):
    """A finding as a check result inside a run, or as an evaluation a sensor records:
    the same fields either way."""
    return kind(
        asset_key=XERO_CONNECTION,
        check_name=finding.check,
        passed=finding.passed,
        severity=SEVERITY.get(finding.severity, dg.AssetCheckSeverity.ERROR),
        description=finding.message,
        metadata=_metadata(finding),
    )


def check_result(finding: rules.Finding) -> dg.AssetCheckResult:
    return _as(dg.AssetCheckResult, finding)


def check_evaluation(finding: rules.Finding) -> dg.AssetCheckEvaluation:
    return _as(dg.AssetCheckEvaluation, finding)


@dg.multi_asset_check(
    specs=HEALTH_SPECS,
    name="xero_health_checks",
    description="The Xero connection's health: reads the connection row and the request "
    "tables; costs no Xero call.",
    can_subset=True,
)
def xero_health_checks(
    context: dg.AssetCheckExecutionContext, crm: CrmDatabase
) -> Iterator[dg.AssetCheckResult]:
    selected = {key.name for key in context.selected_asset_check_keys}
    for finding in evaluate_health(crm, context.instance, utcnow(), HealthSettings.from_env()):
        if finding.check in selected:
            yield check_result(finding)


# ---- the sensor ----------------------------------------------------------------------------


@dataclass
class HealthCursor:
    """Per check: whether it passed when last recorded, and when (epoch seconds)."""

    recorded: dict[str, tuple[bool, float]] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: str | None) -> "HealthCursor":
        data = json.loads(raw) if raw else {}
        return cls({name: (bool(p), float(at)) for name, (p, at) in data.items()})

    def dump(self) -> str:
        return json.dumps({k: list(v) for k, v in sorted(self.recorded.items())})

    def due(self, finding: rules.Finding, now: datetime) -> bool:
        last = self.recorded.get(finding.check)
        if last is None or last[0] != finding.passed:
            return True
        return now.timestamp() - last[1] >= REPORT_EVERY.total_seconds()

    def note(self, finding: rules.Finding, now: datetime) -> None:
        self.recorded[finding.check] = (finding.passed, now.timestamp())


def skip_message(findings: list[rules.Finding]) -> str:
    failing = [f for f in findings if not f.passed]
    if not failing:
        return "Healthy: " + " ".join(f.message for f in findings[:1]) + " No request stuck."
    return " | ".join(f"{f.severity.value} {f.check}: {f.message}" for f in failing)


def health_sensor(
    name: str = "xero_health_sensor",
    settings: HealthSettings | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> dg.SensorDefinition:
    """The sensor that records the health checks' results without a run; `clock` is for
    tests."""
    settings = settings or HealthSettings.from_env()

    def _sensor(context: dg.SensorEvaluationContext, crm: CrmDatabase) -> dg.SensorResult:
        now = clock()
        findings = evaluate_health(crm, context.instance, now, settings)
        cursor = HealthCursor.parse(context.cursor)
        events = []
        for finding in findings:
            if not finding.passed:
                context.log.warning(f"{finding.check}: {finding.message}")
            if cursor.due(finding, now):
                events.append(check_evaluation(finding))
                cursor.note(finding, now)
        return dg.SensorResult(
            asset_events=events, skip_reason=skip_message(findings), cursor=cursor.dump()
        )

    # Owners on sensors are a beta parameter in Dagster 1.13: it would warn at every load.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        return dg.sensor(
            name=name,
            minimum_interval_seconds=settings.interval_seconds,
            default_status=dg.DefaultSensorStatus.RUNNING,
            description=(
                "Records the xero_connection checks (reconnect needed, refresh token about "
                "to lapse, day call budget under 20%, requests stuck in queued) when one "
                "changes and hourly, without a run; reads the database only, never calls "
                "Xero."
            ),
            owners=OWNER_LIST,
            tags={GROUP_TAG: INTEGRATION_GROUP},
        )(_sensor)


xero_health_sensor = health_sensor()
