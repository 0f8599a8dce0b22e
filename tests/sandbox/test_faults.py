"""Injected faults over HTTP: storms, random errors, forced 429s, expired tokens, latency."""

from __future__ import annotations

import time

import requests

from tests.fixtures.sandbox import SandboxClient


def _url(sb: SandboxClient, path: str = "Contacts") -> str:
    return f"{sb.url}/api.xro/2.0/{path}"


def test_storm_of_three_503s_then_recovery(sandbox: SandboxClient) -> None:
    conn = sandbox.connect()
    sandbox.faults(status=503, count=3)
    codes = [
        requests.get(_url(sandbox), headers=conn.headers(), timeout=10).status_code
        for _ in range(5)
    ]
    assert codes == [503, 503, 503, 200, 200]


def test_random_fraction_is_deterministic(sandbox: SandboxClient) -> None:
    sandbox.limits(enabled=False)
    conn = sandbox.connect()

    def run() -> list[int]:
        sandbox.clear_faults()
        sandbox.faults(status=500, rate=0.3)
        return [
            requests.get(_url(sandbox), headers=conn.headers(), timeout=10).status_code
            for _ in range(40)
        ]

    first, second = run(), run()
    assert first == second
    assert 3 <= first.count(500) <= 25 and first.count(200) >= 15


def test_forced_rate_limits_with_retry_after(sandbox: SandboxClient) -> None:
    conn = sandbox.connect()
    sandbox.faults(rate_limit="minute", retry_after=1)
    r = requests.get(_url(sandbox), headers=conn.headers(), timeout=10)
    assert r.status_code == 429
    assert r.headers["X-Rate-Limit-Problem"] == "minute" and r.headers["Retry-After"] == "1"
    assert requests.get(_url(sandbox), headers=conn.headers(), timeout=10).status_code == 200
    sandbox.faults(rate_limit="day")
    r = requests.get(_url(sandbox), headers=conn.headers(), timeout=10)
    assert r.headers["X-Rate-Limit-Problem"] == "day" and int(r.headers["Retry-After"]) > 60
    sandbox.faults(rate_limit="concurrent", count=2)
    rs = [requests.get(_url(sandbox), headers=conn.headers(), timeout=10) for _ in range(3)]
    assert [r.status_code for r in rs] == [429, 429, 200]
    assert rs[0].headers["X-Rate-Limit-Problem"] == "concurrent"
    assert "Retry-After" not in rs[0].headers


def test_expire_tokens(sandbox: SandboxClient) -> None:
    conn = sandbox.connect()
    sandbox.faults(expire_tokens=True)
    r = requests.get(_url(sandbox), headers=conn.headers(), timeout=10)
    assert r.status_code == 401 and r.json()["Detail"].startswith("TokenExpired")
    fresh = requests.post(
        f"{sandbox.url}/connect/token",
        auth=("sandbox", "sandbox"),
        timeout=10,
        data={"grant_type": "refresh_token", "refresh_token": conn.refresh_token},
    ).json()
    headers = {**conn.headers(), "Authorization": f"Bearer {fresh['access_token']}"}
    assert requests.get(_url(sandbox), headers=headers, timeout=10).status_code == 200


def test_latency_and_path_filter_and_clear(sandbox: SandboxClient) -> None:
    """Latency is added where the fault's path says, and only there. Which answers were
    slowed is read from the sandbox's own header, never from the test machine's clock; the
    one timing asserted is a lower bound, which no load can break."""
    conn = sandbox.connect()
    sandbox.faults(latency_ms=250, path="/api.xro/2.0/Invoices")
    sandbox.faults(status=502, count=1, path="/api.xro/2.0/Invoices")
    other = requests.get(_url(sandbox), headers=conn.headers(), timeout=10)
    assert other.status_code == 200
    assert "X-Sandbox-Latency-Ms" not in other.headers
    assert (
        requests.get(_url(sandbox, "Invoices"), headers=conn.headers(), timeout=10).status_code
        == 502
    )
    t = time.perf_counter()
    slowed = requests.get(_url(sandbox, "Invoices"), headers=conn.headers(), timeout=10)
    assert slowed.status_code == 200
    assert slowed.headers["X-Sandbox-Latency-Ms"] == "250"
    assert time.perf_counter() - t >= 0.25
    sandbox.clear_faults()
    after = requests.get(_url(sandbox, "Invoices"), headers=conn.headers(), timeout=10)
    assert "X-Sandbox-Latency-Ms" not in after.headers


def test_identity_faults_only_when_asked(sandbox: SandboxClient) -> None:
    conn = sandbox.connect()
    sandbox.faults(status=503, count=5)
    r = requests.post(
        f"{sandbox.url}/connect/token",
        auth=("sandbox", "sandbox"),
        timeout=10,
        data={"grant_type": "refresh_token", "refresh_token": conn.refresh_token},
    )
    assert r.status_code == 200
    sandbox.clear_faults()
    sandbox.faults(status=503, count=1, path="/connect/token")
    r = requests.post(
        f"{sandbox.url}/connect/token",
        auth=("sandbox", "sandbox"),
        timeout=10,
        data={"grant_type": "refresh_token", "refresh_token": r.json()["refresh_token"]},
    )
    assert r.status_code == 503


def test_invalid_fault_spec_is_refused(sandbox: SandboxClient) -> None:
    for spec in ({"status": 200}, {"rate_limit": "hourly"}, {"status": 503, "rate": 2}):
        r = requests.post(f"{sandbox.url}/_sandbox/faults", json=spec, timeout=10)
        assert r.status_code == 400, spec


def test_stats_count_calls_by_template(sandbox: SandboxClient) -> None:
    conn = sandbox.connect()
    sandbox.seed(contacts=2)
    for _ in range(3):
        requests.get(_url(sandbox), headers=conn.headers(), timeout=10)
    cid = requests.get(_url(sandbox), headers=conn.headers(), timeout=10).json()["Contacts"][0][
        "ContactID"
    ]
    requests.get(_url(sandbox, f"Contacts/{cid}"), headers=conn.headers(), timeout=10)
    calls = sandbox.stats()
    assert calls["GET /api.xro/2.0/Contacts"] == 4
    assert calls["GET /api.xro/2.0/Contacts/{ContactID}"] == 1
    assert calls["POST /connect/token"] == 1
    assert calls["GET /identity/connect/authorize"] == 1
    assert calls["GET /connections"] == 1
    sandbox.reset()
    assert sandbox.stats() == {}


def test_admin_api_refuses_bad_requests(sandbox: SandboxClient) -> None:
    for path, body in (
        ("/_sandbox/seed", {"contacts": "many"}),
        ("/_sandbox/seed", {"contacts": 10**12}),
        ("/_sandbox/seed", {"invoices": -1}),
        ("/_sandbox/seed", {"tenant_id": "nope"}),
        ("/_sandbox/limits", {"minute": "x"}),
        ("/_sandbox/limits", {"access_token_ttl": -5}),
        ("/_sandbox/tenants", {"name": ""}),
        ("/_sandbox/faults", {"latency_ms": "slow"}),
    ):
        r = requests.post(f"{sandbox.url}{path}", json=body, timeout=10)
        assert r.status_code == 400, (path, body, r.text)
    r = requests.post(f"{sandbox.url}/_sandbox/seed", data=b"[1]", timeout=10)
    assert r.status_code == 400
