"""The integration's health rules (`domain.health`): each finding, and its command."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from xero_pipelines.domain.health import (
    CHECKS,
    ConnectionFacts,
    QueuedRequest,
    Severity,
    connection_finding,
    day_budget_finding,
    health,
    refresh_token_finding,
    stuck_requests_finding,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
OK = ConnectionFacts(
    connected=True,
    tenant_name="Demo Company",
    has_tokens=True,
    access_token_expires_at=NOW + timedelta(minutes=20),
    day_limit_remaining=4000,
    last_call_at=NOW - timedelta(minutes=5),
)


def facts(**changes) -> ConnectionFacts:
    return ConnectionFacts(**{**OK.__dict__, **changes})


CONNECTION_CASES = [
    ("connected", OK, True, "Connected to Demo Company."),
    ("nothing connected", ConnectionFacts(connected=False), False, "`xero-pipelines connect`"),
    ("disconnected", facts(has_tokens=False), False, "`xero-pipelines connect`"),
    (
        "grant lost",
        facts(needs_reconnect=True, reconnect_reason="invalid_grant"),
        False,
        "Xero needs a reconnect for Demo Company (invalid_grant)",
    ),
]


@pytest.mark.parametrize(
    ("given", "passed", "says"),
    [c[1:] for c in CONNECTION_CASES],
    ids=[c[0] for c in CONNECTION_CASES],
)
def test_connection(given, passed, says):
    finding = connection_finding(given)
    assert (finding.passed, finding.severity) == (passed, Severity.ERROR)
    assert says in finding.message
    if given.needs_reconnect:
        assert finding.message.endswith("runs `xero-pipelines reconnect`.")


# The token set in use was issued 30 minutes before its access token expires; unused for
# 60 days from then, Xero drops the refresh token.
REFRESH_CASES = [
    # (case, token set issued this long ago, passes, words)
    ("just refreshed", timedelta(minutes=10), True, "lapses unused on 2026-07-31"),
    ("45 days unused", timedelta(days=45, hours=23), True, "lapses unused on"),
    ("46 days unused: 14 left", timedelta(days=46, minutes=1), False, "(13 days)"),
    ("59 days unused", timedelta(days=59), False, "(1 day)"),
    ("61 days unused", timedelta(days=61), False, "Xero has likely dropped it"),
]


@pytest.mark.parametrize(
    ("issued_ago", "passed", "says"),
    [c[1:] for c in REFRESH_CASES],
    ids=[c[0] for c in REFRESH_CASES],
)
def test_refresh_token(issued_ago, passed, says):
    expires = NOW - issued_ago + timedelta(minutes=30)
    finding = refresh_token_finding(facts(access_token_expires_at=expires), NOW)
    assert (finding.passed, finding.severity) == (passed, Severity.WARN)
    assert says in finding.message
    if not passed:
        assert "`xero-pipelines status`" in finding.message
        assert "`xero-pipelines reconnect`" in finding.message


def test_refresh_token_is_not_judged_without_a_usable_connection():
    finding = refresh_token_finding(
        facts(needs_reconnect=True, access_token_expires_at=NOW - timedelta(days=90)), NOW
    )
    assert finding.passed and "xero_connection_usable" in finding.message


BUDGET_CASES = [
    # (case, remaining, last call this long ago, passes)
    ("plenty", 4000, timedelta(minutes=5), True),
    ("exactly 20%", 1000, timedelta(minutes=5), True),
    ("under 20%", 999, timedelta(minutes=5), False),
    ("spent", 0, timedelta(hours=23, minutes=59), False),
    ("spent, but a day ago", 0, timedelta(hours=24), True),
    ("no call yet", None, None, True),
]


@pytest.mark.parametrize(
    ("remaining", "ago", "passed"), [c[1:] for c in BUDGET_CASES], ids=[c[0] for c in BUDGET_CASES]
)
def test_day_budget(remaining, ago, passed):
    given = facts(day_limit_remaining=remaining, last_call_at=None if ago is None else NOW - ago)
    finding = day_budget_finding(given, NOW, day_limit=5000)
    assert (finding.passed, finding.severity) == (passed, Severity.WARN)
    if not passed:
        assert f"Only {remaining} of Xero's 5000 calls a day are left" in finding.message
        assert "`xero-pipelines status`" in finding.message


def queued(kind: str, request_id: int, ago: timedelta) -> QueuedRequest:
    return QueuedRequest(kind, request_id, NOW - ago)


def test_requests_queued_past_the_limit_are_stuck_with_the_retry_command():
    rows = [
        queued("export", 12, timedelta(hours=3)),
        queued("export", 11, timedelta(minutes=61)),
        queued("export", 13, timedelta(minutes=59)),  # not yet
        queued("draft", 4, timedelta(days=2)),
    ]

    finding = stuck_requests_finding(rows, NOW, timedelta(hours=1))

    assert (finding.passed, finding.severity) == (False, Severity.ERROR)
    assert finding.metadata["stuck"] == 3 and finding.metadata["queued"] == 4
    assert "draft 4; export 11, 12" in finding.message
    assert "`xero-pipelines requests retry --kind draft 4`" in finding.message
    assert "`xero-pipelines requests retry --kind export 11 12`" in finding.message
    assert "13" not in finding.message.split("):")[1]
    assert "since 2026-05-30 12:00 UTC" in finding.message


def test_nothing_queued_long_passes():
    rows = [queued("export", 1, timedelta(minutes=59))]
    finding = stuck_requests_finding(rows, NOW, timedelta(hours=1))
    assert finding.passed and finding.message == "1 queued, none for more than 60 minutes."


def test_health_gives_every_check_in_order():
    findings = health(OK, [], NOW, day_limit=5000)
    assert [f.check for f in findings] == list(CHECKS)
    assert all(f.passed for f in findings)
