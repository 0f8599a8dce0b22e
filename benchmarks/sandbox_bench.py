"""Benchmark of the Xero sandbox over loopback HTTP: seeding, page latency, throughput, memory.

    .venv/bin/python benchmarks/sandbox_bench.py           # 100,000 contacts, 1,000,000 invoices
    .venv/bin/python benchmarks/sandbox_bench.py --contacts 10000 --invoices 100000 --quick

Credit notes are seeded too (--credit-notes, 20,000 by default) and paged like invoices.
The server runs in its own process on 127.0.0.1 (`python -m xero_sandbox`), so the
latencies do not share a GIL with this client, and its peak RSS (VmHWM) is read from /proc.
The run is bounded by --max-seconds for the reads; nothing leaves loopback.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import random
import resource
import secrets
import statistics
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import requests
from sandbox_process import sandbox_process

REDIRECT = "http://localhost:8765/callback"


def rss_mib(pid: int, field: str) -> float:
    """VmHWM (peak) or VmRSS (current) of a process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def connect(url: str) -> dict[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    r = requests.get(
        f"{url}/identity/connect/authorize",
        allow_redirects=False,
        timeout=10,
        params={
            "response_type": "code",
            "client_id": "sandbox",
            "redirect_uri": REDIRECT,
            "scope": "offline_access accounting.contacts accounting.invoices",
            "state": "b",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
    )
    code = parse_qs(urlsplit(r.headers["location"]).query)["code"][0]
    tok = requests.post(
        f"{url}/connect/token",
        auth=("sandbox", "sandbox"),
        timeout=10,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
    ).json()
    bearer = {"Authorization": f"Bearer {tok['access_token']}"}
    tenant = requests.get(f"{url}/connections", headers=bearer, timeout=10).json()[0]["tenantId"]
    return {**bearer, "xero-tenant-id": tenant, "Accept": "application/json"}


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def timed_pages(
    http: requests.Session,
    url: str,
    headers: dict[str, str],
    resource_name: str,
    pages: list[int],
    params: dict[str, str],
    deadline: float,
) -> tuple[list[float], int, float]:
    latencies, records, started = [], 0, time.perf_counter()
    for page in pages:
        if time.perf_counter() > deadline:
            break
        t = time.perf_counter()
        r = http.get(
            f"{url}/api.xro/2.0/{resource_name}",
            headers=headers,
            timeout=120,
            params={**params, "page": page, "pageSize": 1000},
        )
        body = r.content
        latencies.append((time.perf_counter() - t) * 1000)
        assert r.status_code == 200, r.text[:200]
        records += len(json.loads(body)[resource_name])
    return latencies, records, time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--contacts", type=int, default=100_000)
    ap.add_argument("--invoices", type=int, default=1_000_000)
    ap.add_argument("--quotes", type=int, default=10_000)
    ap.add_argument("--credit-notes", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--samples", type=int, default=40, help="pages sampled per scenario")
    ap.add_argument("--max-seconds", type=float, default=90, help="budget for the reads")
    ap.add_argument("--quick", action="store_true", help="fewer samples (CI smoke run)")
    args = ap.parse_args()
    samples = 10 if args.quick else args.samples

    with sandbox_process() as (url, pid):
        rss0 = rss_mib(pid, "VmRSS")
        t = time.perf_counter()
        seeded = requests.post(
            f"{url}/_sandbox/seed",
            timeout=600,
            json={
                "contacts": args.contacts,
                "invoices": args.invoices,
                "quotes": args.quotes,
                "credit_notes": args.credit_notes,
                "seed": args.seed,
            },
        ).json()
        seed_wall = time.perf_counter() - t
        rss_seeded = rss_mib(pid, "VmRSS")
        headers = connect(url)
        http = requests.Session()
        deadline = time.perf_counter() + args.max_seconds
        rng = random.Random(0)
        c_pages = max(1, -(-args.contacts // 1000))
        i_pages = max(1, -(-args.invoices // 1000))
        n_pages = max(1, -(-args.credit_notes // 1000))

        def spread(n_pages: int) -> list[int]:
            picks = [1, n_pages, max(1, n_pages // 2)]
            picks += [rng.randint(1, n_pages) for _ in range(samples - len(picks))]
            return picks

        scenarios = [
            ("Contacts, pageSize=1000", "Contacts", spread(c_pages), {"includeArchived": "true"}),
            ("Invoices, pageSize=1000", "Invoices", spread(i_pages), {}),
            (
                "Invoices where Status==AUTHORISED",
                "Invoices",
                spread(max(1, i_pages * 35 // 100)),
                {"where": 'Status=="AUTHORISED"'},
            ),
            (
                "Invoices Statuses=AUTHORISED,PAID",
                "Invoices",
                spread(max(1, i_pages * 3 // 4)),
                {"Statuses": "AUTHORISED,PAID"},
            ),
            ("CreditNotes, pageSize=1000", "CreditNotes", spread(n_pages), {}),
        ]
        print(f"sandbox {url}  (rate limits off, loopback only)")
        print(
            f"seeded {seeded['contacts']:,} contacts, {seeded['invoices']:,} invoices, "
            f"{seeded['quotes']:,} quotes, {seeded['credit_notes']:,} credit notes "
            f"in {seeded['seconds']:.1f} s server-side "
            f"({seed_wall:.1f} s wall, "
            f"{(seeded['contacts'] + seeded['invoices']) / seed_wall:,.0f} rows/s)"
        )
        print(f"{'scenario':<38}{'pages':>6}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'rec/s':>11}")
        for name, res, pages, params in scenarios:
            lat, records, secs = timed_pages(http, url, headers, res, pages, params, deadline)
            if not lat:
                print(f"{name:<38} skipped (time budget)")
                continue
            print(
                f"{name:<38}{len(lat):>6}{statistics.median(lat):>9.1f}{pct(lat, 95):>9.1f}"
                f"{max(lat):>9.1f}{records / secs:>11,.0f}"
            )
        # sequential sweeps, as the import pipeline pages through Xero
        sweeps = [
            ("Contacts", c_pages, {"includeArchived": "true"}),
            ("Invoices", min(i_pages, 100), {}),
        ]
        for res, n_pages, params in sweeps:
            lat, records, secs = timed_pages(
                http, url, headers, res, list(range(1, n_pages + 1)), params, deadline
            )
            if lat:
                print(
                    f"sequential {res} sweep: {records:,} records in {len(lat)} calls, "
                    f"{secs:.1f} s ({records / max(secs, 1e-9):,.0f} records/s, "
                    f"p50 {statistics.median(lat):.1f} ms, p95 {pct(lat, 95):.1f} ms)"
                )
        print(
            f"server peak RSS: {rss_mib(pid, 'VmHWM'):,.0f} MiB (idle {rss0:,.0f} MiB, after "
            f"seeding {rss_seeded:,.0f} MiB); benchmark client peak RSS "
            f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB"
        )
        calls = requests.get(f"{url}/_sandbox/stats", timeout=10).json()["calls"]
        print("API calls served:")
        for key, n in sorted(calls.items()):
            print(f"  {key:<45}{n:>6}")


if __name__ == "__main__":
    main()
