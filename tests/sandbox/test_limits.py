"""Xero's rate limits per tenant over HTTP: minute, day, concurrent, headers, Retry-After."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import requests

from tests.fixtures.sandbox import SandboxClient


def _get(sb: SandboxClient, headers: dict[str, str]) -> requests.Response:
    return requests.get(f"{sb.url}/api.xro/2.0/Accounts", headers=headers, timeout=30)


def test_headers_on_every_response_and_minute_limit(sandbox: SandboxClient) -> None:
    sandbox.limits(minute=3, day=100, app_minute=1000)
    conn = sandbox.connect()
    remaining = []
    for _ in range(3):
        r = _get(sandbox, conn.headers())
        assert r.status_code == 200
        remaining.append(int(r.headers["X-MinLimit-Remaining"]))
        assert int(r.headers["X-DayLimit-Remaining"]) == 100 - len(remaining)
        assert "X-AppMinLimit-Remaining" in r.headers
    assert remaining == [2, 1, 0]
    r = _get(sandbox, conn.headers())
    assert r.status_code == 429
    assert r.headers["X-Rate-Limit-Problem"] == "minute"
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    assert r.headers["X-MinLimit-Remaining"] == "0"


def test_limits_are_per_tenant(sandbox: SandboxClient) -> None:
    other = sandbox.add_tenant("Second Org")
    sandbox.limits(minute=2)
    conn = sandbox.connect()
    assert [_get(sandbox, conn.headers()).status_code for _ in range(3)] == [200, 200, 429]
    assert _get(sandbox, conn.headers(other)).status_code == 200


def test_day_limit(sandbox: SandboxClient) -> None:
    sandbox.limits(minute=100, day=2)
    conn = sandbox.connect()
    codes = [_get(sandbox, conn.headers()) for _ in range(3)]
    assert [r.status_code for r in codes] == [200, 200, 429]
    assert codes[2].headers["X-Rate-Limit-Problem"] == "day"
    assert int(codes[2].headers["Retry-After"]) > 60


def test_app_minute_limit_across_tenants(sandbox: SandboxClient) -> None:
    other = sandbox.add_tenant("Third Org")
    sandbox.limits(app_minute=2)
    conn = sandbox.connect()
    assert _get(sandbox, conn.headers()).status_code == 200
    assert _get(sandbox, conn.headers(other)).status_code == 200
    r = _get(sandbox, conn.headers())
    assert r.status_code == 429 and r.headers["X-Rate-Limit-Problem"] == "appminute"


def test_concurrent_limit_measures_calls_in_flight(sandbox: SandboxClient) -> None:
    sandbox.limits(concurrent=2, minute=1000)
    sandbox.faults(latency_ms=400)
    conn = sandbox.connect()
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda _: _get(sandbox, conn.headers()), range(6)))
    codes = sorted(r.status_code for r in results)
    assert codes.count(200) >= 2 and codes.count(429) >= 1, codes
    refused = [r for r in results if r.status_code == 429]
    assert all(r.headers["X-Rate-Limit-Problem"] == "concurrent" for r in refused)
    assert all("Retry-After" not in r.headers for r in refused)
    # sequential calls are never refused: the slots were released
    sandbox.clear_faults()
    assert all(_get(sandbox, conn.headers()).status_code == 200 for _ in range(4))


def test_refused_calls_do_not_count_and_disabled_limits(sandbox: SandboxClient) -> None:
    sandbox.limits(minute=1)
    conn = sandbox.connect()
    assert _get(sandbox, conn.headers()).status_code == 200
    assert _get(sandbox, conn.headers()).status_code == 429
    sandbox.limits(enabled=False)
    assert all(_get(sandbox, conn.headers()).status_code == 200 for _ in range(5))


def test_identity_paths_are_not_rate_limited(sandbox: SandboxClient) -> None:
    sandbox.limits(minute=1)
    conn = sandbox.connect()
    for _ in range(3):
        r = requests.get(
            f"{sandbox.url}/connections",
            timeout=10,
            headers={"Authorization": f"Bearer {conn.access_token}"},
        )
        assert r.status_code == 200


def test_a_shortened_minute_window_turns_in_its_own_seconds(sandbox: SandboxClient) -> None:
    """`minute_window` makes Xero's minute last fewer seconds, so a real-clock test of
    pacing crosses windows in seconds; Retry-After and the headers follow it."""
    assert sandbox.limits()["minute_window"] == 60
    sandbox.limits(minute=2, minute_window=1)
    conn = sandbox.connect()
    assert [_get(sandbox, conn.headers()).status_code for _ in range(2)] == [200, 200]
    refused = _get(sandbox, conn.headers())
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
    time.sleep(1.05)  # the sandbox counts its window on the real clock
    again = _get(sandbox, conn.headers())
    assert again.status_code == 200 and again.headers["X-MinLimit-Remaining"] == "1"
    for bad in (0, 0.5, 3601, "x", True):
        r = requests.post(f"{sandbox.url}/_sandbox/limits", json={"minute_window": bad}, timeout=10)
        assert r.status_code == 400 and "minute_window" in r.json()["error"], (bad, r.text)
    sandbox.reset()
    assert sandbox.limits()["minute_window"] == 60
