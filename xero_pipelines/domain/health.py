"""The integration's health, as an operator needs it: what is wrong and what to run.

Four rules over plain facts (the stored connection row, the queued request rows), each
giving one `Finding` whose message ends with the command that helps:
- the connection needs a reconnect, or nothing is connected (error);
- the refresh token will lapse unused within 14 days: Xero drops a refresh token not
  used for 60 days, and then only a reconnect brings the organisation back (warning);
- less than 20% of Xero's day call budget is left, by the last `X-DayLimit-Remaining`
  Xero sent in the past 24 hours (warning);
- request rows have been `queued` longer than a limit: no run is answering them (error).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

CONNECTION = "xero_connection_usable"
REFRESH_TOKEN = "refresh_token_in_use"
DAY_BUDGET = "day_call_budget_left"
STUCK_REQUESTS = "no_request_stuck_in_queued"
CHECKS = (CONNECTION, REFRESH_TOKEN, DAY_BUDGET, STUCK_REQUESTS)

REFRESH_TOKEN_LIFETIME = timedelta(days=60)  # unused for this long, Xero drops it
REFRESH_TOKEN_WARNING = timedelta(days=14)
# A token set is issued this long before its access token expires (Xero's access tokens
# last 30 minutes), so the refresh token in use was issued, and the old one last used,
# at `access_token_expires_at - ACCESS_TOKEN_LIFETIME`.
ACCESS_TOKEN_LIFETIME = timedelta(minutes=30)
LOW_BUDGET_SHARE = 0.2
DAY_WINDOW = timedelta(hours=24)  # Xero's day limit is a rolling 24 hours
DEFAULT_STUCK_AFTER = timedelta(hours=1)
IDS_SHOWN = 20


class Severity(StrEnum):
    WARN = "WARN"
    ERROR = "ERROR"


@dataclass(frozen=True)
class ConnectionFacts:
    """The `xero_connections` row, or `connected=False` when there is none."""

    connected: bool
    tenant_name: str | None = None
    has_tokens: bool = False
    needs_reconnect: bool = False
    reconnect_reason: str | None = None
    access_token_expires_at: datetime | None = None
    day_limit_remaining: int | None = None
    last_call_at: datetime | None = None

    @property
    def usable(self) -> bool:
        return self.connected and self.has_tokens and not self.needs_reconnect


@dataclass(frozen=True)
class QueuedRequest:
    """A `queued` row and since when: its run's creation, or its request time when no
    run was found for its run key. `kind`: `export` or `draft`, the table's."""

    kind: str
    request_id: int
    queued_since: datetime


@dataclass(frozen=True)
class Finding:
    check: str
    passed: bool
    severity: Severity
    message: str
    metadata: dict[str, str | int | float | bool | None] = field(default_factory=dict)


def _day(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d")


def _days(span: timedelta) -> str:
    return "1 day" if span.days == 1 else f"{span.days} days"


def _minute(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def connection_finding(facts: ConnectionFacts) -> Finding:
    """Error unless an organisation is connected with tokens and no reconnect is due."""
    name = facts.tenant_name or "the organisation"
    meta: dict[str, str | int | float | bool | None] = {
        "organisation": facts.tenant_name,
        "needs_reconnect": facts.needs_reconnect,
    }
    if not facts.connected:
        message = "No Xero organisation is connected: run `xero-pipelines connect`."
    elif not facts.has_tokens:
        message = f"Xero was disconnected from {name}: run `xero-pipelines connect`."
    elif facts.needs_reconnect:
        why = f" ({facts.reconnect_reason})" if facts.reconnect_reason else ""
        message = (
            f"Xero needs a reconnect for {name}{why}: every run that calls Xero fails until "
            "an administrator runs `xero-pipelines reconnect`."
        )
    else:
        return Finding(CONNECTION, True, Severity.ERROR, f"Connected to {name}.", meta)
    return Finding(CONNECTION, False, Severity.ERROR, message, meta)


def refresh_token_lapses_at(access_token_expires_at: datetime) -> datetime:
    """When the stored refresh token lapses if nothing uses it."""
    return access_token_expires_at - ACCESS_TOKEN_LIFETIME + REFRESH_TOKEN_LIFETIME


def refresh_token_finding(facts: ConnectionFacts, now: datetime) -> Finding:
    """Warn when the refresh token lapses unused within `REFRESH_TOKEN_WARNING`."""
    if not facts.usable or facts.access_token_expires_at is None:
        return Finding(
            REFRESH_TOKEN,
            True,
            Severity.WARN,
            f"No usable token set to age (see {CONNECTION}).",
        )
    lapses = refresh_token_lapses_at(facts.access_token_expires_at)
    left = lapses - now
    meta: dict[str, str | int | float | bool | None] = {
        "lapses_unused_on": lapses.isoformat(),
        "days_left": round(left.total_seconds() / 86400, 1),
    }
    if left > REFRESH_TOKEN_WARNING:
        message = f"The refresh token lapses unused on {_day(lapses)}; any Xero call renews it."
        return Finding(REFRESH_TOKEN, True, Severity.WARN, message, meta)
    if left.total_seconds() <= 0:
        message = (
            f"The refresh token was last renewed over 60 days ago and Xero has likely dropped "
            f"it (on {_day(lapses)}): run `xero-pipelines status` to find out, and "
            "`xero-pipelines reconnect` if it says so."
        )
    else:
        message = (
            f"The refresh token lapses unused on {_day(lapses)} ({_days(left)}): run "
            "`xero-pipelines status` (it calls Xero, which renews the token) or let the "
            "import schedule run; once lapsed, only `xero-pipelines reconnect` helps."
        )
    return Finding(REFRESH_TOKEN, False, Severity.WARN, message, meta)


def day_budget_finding(facts: ConnectionFacts, now: datetime, day_limit: int) -> Finding:
    """Warn when Xero's last `X-DayLimit-Remaining` of the past 24 hours is under 20%."""
    remaining, seen = facts.day_limit_remaining, facts.last_call_at
    if remaining is None or seen is None:
        return Finding(DAY_BUDGET, True, Severity.WARN, "No Xero call recorded yet.")
    meta: dict[str, str | int | float | bool | None] = {
        "day_limit_remaining": remaining,
        "day_limit": day_limit,
        "as_of": seen.isoformat(),
    }
    if now - seen >= DAY_WINDOW:
        message = (
            f"No Xero call since {_minute(seen)}: the day budget of {day_limit} calls is whole."
        )
        return Finding(DAY_BUDGET, True, Severity.WARN, message, meta)
    if remaining >= day_limit * LOW_BUDGET_SHARE:
        message = f"{remaining} of {day_limit} calls a day left (as of {_minute(seen)})."
        return Finding(DAY_BUDGET, True, Severity.WARN, message, meta)
    message = (
        f"Only {remaining} of Xero's {day_limit} calls a day are left (as of "
        f"{_minute(seen)}); at 0 every Xero call fails until the 24-hour window rolls on. "
        "Hold back full refreshes and large request batches, and watch "
        "`xero-pipelines status`."
    )
    return Finding(DAY_BUDGET, False, Severity.WARN, message, meta)


def stuck_requests_finding(
    queued: Sequence[QueuedRequest], now: datetime, stuck_after: timedelta
) -> Finding:
    """Error when a request has been `queued` longer than `stuck_after`."""
    stuck = sorted(
        (q for q in queued if now - q.queued_since > stuck_after),
        key=lambda q: (q.kind, q.request_id),
    )
    minutes = int(stuck_after.total_seconds() // 60)
    meta: dict[str, str | int | float | bool | None] = {
        "queued": len(queued),
        "stuck": len(stuck),
        "stuck_after_minutes": minutes,
    }
    if not stuck:
        message = f"{len(queued)} queued, none for more than {minutes} minutes."
        return Finding(STUCK_REQUESTS, True, Severity.ERROR, message, meta)
    by_kind: dict[str, list[int]] = {}
    for q in stuck:
        by_kind.setdefault(q.kind, []).append(q.request_id)
    listed = "; ".join(
        f"{kind} {', '.join(map(str, ids[:IDS_SHOWN]))}"
        + (f" and {len(ids) - IDS_SHOWN} more" if len(ids) > IDS_SHOWN else "")
        for kind, ids in sorted(by_kind.items())
    )
    commands = " and ".join(
        f"`xero-pipelines requests retry --kind {kind} {' '.join(map(str, ids[:IDS_SHOWN]))}`"
        for kind, ids in sorted(by_kind.items())
    )
    oldest = min(q.queued_since for q in stuck)
    message = (
        f"{len(stuck)} request(s) queued for more than {minutes} minutes (the oldest since "
        f"{_minute(oldest)}): {listed}. No run is answering them: check that the daemon "
        "runs and the request sensors are on (`xero-pipelines preflight`), find their runs "
        f"by the tag xero_pipelines/request_ids, then send them again with {commands}."
    )
    meta["oldest_queued_since"] = oldest.isoformat()
    return Finding(STUCK_REQUESTS, False, Severity.ERROR, message, meta)


def health(
    facts: ConnectionFacts,
    queued: Sequence[QueuedRequest],
    now: datetime,
    *,
    day_limit: int,
    stuck_after: timedelta = DEFAULT_STUCK_AFTER,
) -> list[Finding]:
    """Every rule's finding, in `CHECKS` order."""
    return [
        connection_finding(facts),
        refresh_token_finding(facts, now),
        day_budget_finding(facts, now, day_limit),
        stuck_requests_finding(queued, now, stuck_after),
    ]
