"""Benchmark of the production Xero client reading a large organisation page by page.

    .venv/bin/python benchmarks/client_read_bench.py     # 100,000 contacts, 300,000 invoices
    .venv/bin/python benchmarks/client_read_bench.py --contacts 20000 --invoices 50000

What it proves, on the real path (OAuth2 connect into a SQLite integration database,
`TokenStore`, `XeroClient`, the sandbox in a child process, loopback only):

1. pacing: with the sandbox enforcing Xero's limits (60 calls a minute), the default
   client reads more pages than one minute allows without a single 429;
2. throughput: with the sandbox's limits far above the read and the pacer opened up,
   `iter_pages` reads `pageSize=1000` pages (API calls = pages), holds one page at a time
   (the client's peak Python allocation stays near one page, not the whole set), at N
   records per second.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

import requests
from sandbox_process import sandbox_process

from xero_pipelines.db import create_db_engine, upgrade
from xero_pipelines.xero.client import XeroClient
from xero_pipelines.xero.config import XeroAppConfig
from xero_pipelines.xero.connection import connect
from xero_pipelines.xero.crypto import TokenCipher
from xero_pipelines.xero.pacing import Pacer
from xero_pipelines.xero.tokens import TokenStore


def _browser(line: str) -> None:
    if line.startswith("http"):
        threading.Thread(target=requests.get, args=(line,), kwargs={"timeout": 30}).start()


def read_all(client: XeroClient, collection: str, params: dict | None = None) -> dict:
    calls_before = client.calls
    records = 0
    largest_page = 0
    tracemalloc.start()
    started = time.perf_counter()
    for page in client.iter_pages(collection, collection, params):
        records += len(page)
        largest_page = max(largest_page, len(page))
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "records": records,
        "api_calls": client.calls - calls_before,
        "seconds": seconds,
        "records_per_second": records / seconds if seconds else float("inf"),
        "peak_python_mib": peak / 2**20,
        "largest_page": largest_page,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--invoices", type=int, default=300_000)
    parser.add_argument(
        "--paced-pages", type=int, default=75, help="pages read at Xero's rate (0: skip)"
    )
    args = parser.parse_args()

    print(f"seeding the sandbox: {args.contacts:,} contacts, {args.invoices:,} invoices ...")
    started = time.perf_counter()
    seed = ("--contacts", str(args.contacts), "--invoices", str(args.invoices), "--seed", "1")
    with sandbox_process(*seed) as (url, _pid), tempfile.TemporaryDirectory() as home:
        print(f"sandbox ready in {time.perf_counter() - started:.1f} s at {url}")
        os.environ["XERO_PIPELINES_HOME"] = home
        engine = create_db_engine(f"sqlite:///{Path(home) / 'crm.sqlite'}")
        upgrade(engine)
        app = XeroAppConfig("sandbox", "sandbox", url, url, url)
        cipher = TokenCipher.from_env()
        connect(engine, app, cipher, port=0, timeout=30, open_browser=False, echo=_browser)
        store = TokenStore(engine, app, cipher)
        # Pacing first, on a fresh minute: a minute already spent by the throughput read
        # would 429 the first call before the pacer has seen a single header.
        if args.paced_pages:
            paced(url, store, args.paced_pages)
        # Limits far above any read, so the figures measure the client, not the pacing.
        unlimited = {"enabled": True, "minute": 10**7, "day": 10**9, "app_minute": 10**7}
        requests.post(f"{url}/_sandbox/limits", json=unlimited, timeout=10)
        client = XeroClient(url, store, pacer=Pacer(minute_limit=10**6, day_limit=10**9))

        print("2. throughput (limits far above the read, pacer opened up)")
        print(f"{'collection':<10} {'records':>9} {'calls':>6} {'seconds':>8} "
              f"{'records/s':>10} {'page':>5} {'peak MiB':>9}")  # fmt: skip
        for collection in ("Contacts", "Invoices"):
            r = read_all(client, collection)
            print(
                f"{collection:<10} {r['records']:>9,} {r['api_calls']:>6} {r['seconds']:>8.2f} "
                f"{r['records_per_second']:>10,.0f} {r['largest_page']:>5} "
                f"{r['peak_python_mib']:>9.1f}"
            )
        meta = client.metadata()
        print(f"total API calls {meta['xero_calls']}, retries {meta['xero_retries']}, "
              f"429 waits {meta['xero_rate_limit_waits']}")  # fmt: skip
        engine.dispose()


def paced(url: str, store: TokenStore, pages: int) -> None:
    """Read `pages` pages of 100 contacts with the default pacer under Xero's limits."""
    xero_limits = {"enabled": True, "minute": 60, "day": 5000, "app_minute": 10000}
    requests.post(f"{url}/_sandbox/limits", json=xero_limits, timeout=10)
    client = XeroClient(url, store)  # the process-wide pacer, Xero's defaults
    print(f"1. pacing: {pages} pages under the sandbox's 60 calls/minute limit")
    started = time.perf_counter()
    for read, _page in enumerate(client.iter_pages("Contacts", "Contacts", page_size=100), 1):
        if read >= pages:
            break
    seconds = time.perf_counter() - started
    meta = client.metadata()
    print(
        f"   {meta['xero_calls']} calls in {seconds:.1f} s, 429s waited out: "
        f"{meta['xero_rate_limit_waits']}, retries: {meta['xero_retries']}, "
        f"minute budget left at the end: {meta['xero_minute_remaining']}"
    )


if __name__ == "__main__":
    main()
