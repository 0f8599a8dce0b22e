"""Benchmark of the import (issue 8): `xero_import_job` against a large sandbox organisation.

    .venv/bin/python benchmarks/import_bench.py        # 100,000 contacts, 1,000,000 invoices
    .venv/bin/python benchmarks/import_bench.py --contacts 10000 --invoices 100000 \\
        --accounts 5000 --rss-invoices 0 --backends sqlite --skip-limited

What it measures, on production's path (the sandbox in its own process on loopback, the
OAuth2 `connect` flow into a fresh CRM database, then `xero_import_job` from `defs` run
by `import_run.py` in a child process, whose peak RSS is sampled with its page writer
processes', `tree_memory.py`):

1. limits off: a full import, a run with nothing changed, and a run after 1% of the
   contacts and invoices changed. For each: API calls by endpoint (differences of
   `/_sandbox/stats`) against the minimum (one per page of 1,000 per endpoint, one each
   for Accounts and Organisation), wall time, records per second, the child's peak RSS,
   and the link and summary steps' times (from the run's STEP_START/STEP_SUCCESS events).
   The full import is also run at `--rss-invoices` to show that peak RSS does not grow
   with the number of invoices. SQLite, and a throwaway PostgreSQL 15 when available.
2. limits on: the sandbox enforcing a minute limit (`--limited-minute`: 600, 120 and
   Xero's own 60), a full import of a smaller organisation: calls per fixed minute window
   against the limit, the rate from the first call to the last, and the 429s.

Setup calls (reading contacts to build the CRM accounts, the 1% change) are left out of
every figure. Nothing leaves loopback.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from import_setup import (
    PAGE,
    UNLIMITED,
    WHOLE_READS,
    Changed,
    Sandbox,
    change_one_percent,
    connect_database,
    database,
    insert_accounts,
    item_counts,
    minimum_calls,
    read_contacts,
)
from sandbox_process import sandbox_process
from tree_memory import TreePeak

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests.fixtures.postgres: the throwaway server
API = "/api.xro/2.0/"
MIRRORS = ("xero_contacts", "xero_invoices", "xero_credit_notes")
ENDPOINT_OF = {
    "xero_contacts": "GET Contacts",
    "xero_invoices": "GET Invoices",
    "xero_credit_notes": "GET CreditNotes",
}
LINKS_STEP, SUMMARIES_STEP = "xero_account_links", "xero_account_summaries"


@dataclass
class Run:
    """One import run's figures."""

    label: str
    wall: float  # child process start to exit
    job: float  # execute_in_process
    cpu: float  # the child's CPU seconds (user + system)
    sandbox_cpu: float  # the sandbox's CPU seconds during the run
    records: int  # mirror rows read
    api: Counter[str]  # API calls by endpoint (sandbox stats)
    other: Counter[str]  # identity and /connections calls
    minimum: dict[str, int]
    rss_mib: float
    steps: dict[str, float]
    assets: dict[str, dict[str, Any]]
    checks_failed: list[str]
    calls: list[tuple[float, str, int]] = field(default_factory=list)

    @property
    def api_calls(self) -> int:
        return sum(self.api.values())

    def step(self, name: str) -> float:
        return self.steps.get(name, float("nan"))


def _stats_diff(after: Counter[str], before: Counter[str]) -> tuple[Counter, Counter]:
    api, other = Counter(), Counter()
    for key, n in (after - before).items():
        method, path = key.split(" ", 1)
        if path.startswith(API):
            api[f"{method} {path[len(API) :]}"] += n
        else:
            other[key] += n
    return api, other


def run_import(
    sb: Sandbox,
    env: dict[str, str],
    label: str,
    profile: Path | None = None,
    keep: Path | None = None,
) -> Run:
    """`xero_import_job` in a child process; its figures. With `profile`, the child runs
    under `py-spy record` (every thread, collapsed stacks written to that file)."""
    with tempfile.TemporaryDirectory() as tmp:
        out, log = Path(tmp) / "run.json", Path(tmp) / "run.log"
        before, sandbox_cpu = sb.stats(), sb.cpu_seconds()
        started = time.perf_counter()
        with log.open("w") as fh:
            cmd = [sys.executable, str(HERE / "import_run.py"), str(out)]
            if profile is not None:
                spy = [
                    "py-spy",
                    "record",
                    "--idle",
                    "-r",
                    "50",
                    "-f",
                    "raw",
                    "-o",
                    str(profile),
                    "--",
                ]
                cmd = [str(Path(sys.executable).parent / spy[0]), *spy[1:], *cmd]
            child = subprocess.Popen(cmd, env=env, stdout=fh, stderr=fh)
            sampler = TreePeak(child.pid)
            code = child.wait()
            tree_peak_kib = sampler.stop()
        wall = time.perf_counter() - started
        sandbox_cpu = sb.cpu_seconds() - sandbox_cpu
        api, other = _stats_diff(sb.stats(), before)
        if code != 0 or not out.exists():
            tail = log.read_text(errors="replace")[-4000:]
            detail = json.loads(out.read_text())["failures"] if out.exists() else []
            raise RuntimeError(f"{label}: the import failed ({code}): {detail}\n{tail}")
        data = json.loads(out.read_text())
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            (keep / f"{label.replace(' ', '_').replace('/', '_per_')}.json").write_text(
                out.read_text()
            )
    steps = {
        key: t["STEP_SUCCESS"] - t["STEP_START"]
        for key, t in data["steps"].items()
        if "STEP_SUCCESS" in t and "STEP_START" in t
    }
    assets = data["assets"]
    minimum = {
        ENDPOINT_OF[a]: max(1, math.ceil(assets[a].get("item_count", 0) / PAGE)) for a in MIRRORS
    } | dict.fromkeys(WHOLE_READS, 1)
    # The run's process and its page writers together, sampled (tree_memory.py); never
    # less than the run's own peak, which a sample may miss by a fraction of a second.
    rss = max(tree_peak_kib, data["peak_rss_kib"]) / 1024
    return Run(
        label=label,
        wall=wall,
        job=data["seconds"],
        cpu=data["cpu_seconds"],
        sandbox_cpu=sandbox_cpu,
        records=sum(assets[a].get("rows_read", 0) for a in MIRRORS),
        api=api,
        other=other,
        minimum=minimum,
        rss_mib=rss,
        steps=steps,
        assets=assets,
        checks_failed=[name for name, passed in data["checks"].items() if not passed],
        calls=[tuple(c) for c in data["calls"]],
    )


# ---- printing --------------------------------------------------------------------------


def print_runs(runs: list[Run]) -> None:
    print(
        f"  {'run':<10} {'wall s':>7} {'job s':>7} {'CPU s':>6} {'Xero CPU s':>10} "
        f"{'records':>9} {'records/s':>10} "
        f"{'API calls':>9} {'minimum':>7} {'peak RSS MiB':>12} {'links s':>8} {'summaries s':>11}"
    )
    for r in runs:
        rate = r.records / r.job if r.job else 0
        print(
            f"  {r.label:<10} {r.wall:>7.1f} {r.job:>7.1f} {r.cpu:>6.1f} {r.sandbox_cpu:>10.1f} "
            f"{r.records:>9,} {rate:>10,.0f} "
            f"{r.api_calls:>9,} {sum(r.minimum.values()):>7,} {r.rss_mib:>12.0f} "
            f"{r.step(LINKS_STEP):>8.2f} {r.step(SUMMARIES_STEP):>11.2f}"
        )
    endpoints = sorted({e for r in runs for e in (*r.api, *r.minimum)})
    print(f"  {'API calls by endpoint (minimum)':<34}" + "".join(f"{r.label:>14}" for r in runs))
    for e in endpoints:
        cells = "".join(f"{f'{r.api[e]} ({r.minimum.get(e, 0)})':>14}" for r in runs)
        print(f"  {e:<34}{cells}")
    print(
        "  (minimum: one call per page of 1,000 of what Xero counted for the read, one each "
        "for Accounts and Organisation; GET Contacts also carries the balances_match_xero "
        "check's one call)"
    )
    others = sorted({e for r in runs for e in r.other})
    for e in others:
        print(f"  {e + ' (not API)':<34}" + "".join(f"{r.other[e]:>14}" for r in runs))


def print_steps(run: Run) -> None:
    print(f"  steps of the {run.label} run (s):")
    for name, seconds in sorted(run.steps.items(), key=lambda kv: -kv[1]):
        print(f"    {name:<56} {seconds:>8.2f}")
    if run.checks_failed:
        print(f"  checks failed: {', '.join(run.checks_failed)}")


def print_links(run: Run, expected: Counter[str]) -> None:
    links = run.assets.get(LINKS_STEP, {})
    got = dict(links.get("links_by_matched_by") or {})
    got["ambiguous"] = links.get("ambiguous", 0)
    want = {k: v for k, v in expected.items() if k != "none"}
    print(f"  links by rule: {got}; planned: {want}, {expected['none']:,} matching nothing")


# ---- scenarios -------------------------------------------------------------------------


@dataclass
class Setup:
    sb: Sandbox
    url: str
    home: Path
    args: argparse.Namespace
    pg_admin: str | None


def child_env(setup: Setup, db_url: str) -> dict[str, str]:
    url = setup.url
    return os.environ | {
        "XERO_API_URL": url,
        "XERO_IDENTITY_URL": url,
        "XERO_LOGIN_URL": url,
        "XERO_CLIENT_ID": "sandbox",
        "XERO_CLIENT_SECRET": "sandbox",
        "CRM_DATABASE_URL": db_url,
        "XERO_PIPELINES_HOME": str(setup.home),
    }


def seed(setup: Setup, contacts: int, invoices: int, credit_notes: int) -> None:
    started = time.perf_counter()
    setup.sb.seed(contacts, invoices, credit_notes, setup.args.seed)
    print(
        f"  seeded {contacts:,} contacts, {invoices:,} invoices, {credit_notes:,} credit "
        f"notes in {time.perf_counter() - started:.1f} s"
    )


def full_scale(setup: Setup, backend: str, invoices: int, *, full_only: bool) -> list[Run]:
    """Seed, connect a fresh CRM database, add CRM accounts; full import, then (unless
    `full_only`) a no-change run and a run after the 1% change."""
    a, sb = setup.args, setup.sb
    sb.limits(**UNLIMITED)
    seed(setup, a.contacts, invoices, a.credit_notes)
    name = f"bench_{backend}_{invoices}"
    with database(backend, setup.home, name, setup.pg_admin) as db_url:
        conn = connect_database(db_url, setup.url)
        contacts = read_contacts(conn.client)
        expected = insert_accounts(conn.engine, contacts, a.accounts)
        minimum = minimum_calls(item_counts(conn.client))
        env = child_env(setup, db_url)
        profile = Path(a.profile) / f"{name}_full.txt" if a.profile else None
        full = run_import(sb, env, "full", profile)
        full.minimum = minimum  # Xero's own counts, read before the run
        runs = [full]
        if not full_only:
            runs.append(run_import(sb, env, "no change"))
            changed = change_one_percent(sb, conn.client, conn.engine, contacts, invoices)
            runs.append(run_import(sb, env, "1% change"))
        conn.engine.dispose()
    print_runs(runs)
    print_steps(full)
    print_links(full, expected)
    if not full_only:
        print_reread(runs[1])
        print_change(changed, runs[-1])
    return runs


def print_change(changed: Changed, run: Run) -> None:
    read = {a: run.assets[a].get("rows_read", 0) for a in MIRRORS}
    summaries = run.assets.get(SUMMARIES_STEP, {})
    print(
        f"  1% change: {changed.contacts:,} contacts and {changed.invoices:,} invoices "
        f"changed ({changed.payments:,} part-paid, {changed.errors} refused); the run read "
        f"{read}; summaries updated {summaries.get('rows_updated', '?')}"
    )


def print_reread(run: Run) -> None:
    """What a run with nothing changed still read: records at (or within the overlap of)
    the newest UpdatedDateUTC, which If-Modified-Since returns again."""
    read = {a: run.assets[a].get("rows_read", 0) for a in MIRRORS}
    print(f"  the no-change run re-read {read} (records at the watermark, minus 5 s)")


def limited(setup: Setup, backend: str, minute: int) -> None:
    """A full import with the sandbox enforcing `minute` calls a minute."""
    a, sb = setup.args, setup.sb
    sb.limits(**UNLIMITED)
    seed(setup, a.limited_contacts, a.limited_invoices, a.limited_credit_notes)
    with database(backend, setup.home, f"bench_limited_{minute}", setup.pg_admin) as db_url:
        conn = connect_database(db_url, setup.url)
        insert_accounts(conn.engine, read_contacts(conn.client), a.limited_accounts)
        minimum = sum(minimum_calls(item_counts(conn.client)).values())
        conn.engine.dispose()
        sb.limits(enabled=True, minute=minute, day=10**9, app_minute=10**9, concurrent=5)
        # The sandbox's minute window is fixed and opened by the first call: let the one
        # the setup opened run out, so the import starts on a fresh minute.
        time.sleep(61)
        keep = Path(a.keep) if a.keep else None
        run = run_import(sb, child_env(setup, db_url), f"{minute}/min", keep=keep)
    sb.limits(**UNLIMITED)
    print_rate(run, minute, minimum)


def print_rate(run: Run, minute: int, minimum: int) -> None:
    answers = [t for t, _, status in run.calls]
    refused = sum(1 for _, _, status in run.calls if status == 429)
    waits = sum(run.assets[a].get("xero_rate_limit_waits", 0) for a in run.assets)
    first, last = min(answers), max(answers)
    windows = Counter(int((t - first) // 60) for t in answers)
    full = [windows[i] for i in range(max(windows))]  # every window but the last
    span = last - first
    rate = (len(answers) - 1) / span if span else float("inf")
    print(
        f"  {run.api_calls:,} API calls (minimum {minimum:,}) in {run.wall:.1f} s "
        f"(job {run.job:.1f} s); 429 answers: {refused}, 429s waited out: {waits}; "
        f"peak RSS {run.rss_mib:.0f} MiB"
    )
    print(f"  calls per fixed minute from the first call: {[windows[i] for i in sorted(windows)]}")
    if full:
        used = sum(full) / (len(full) * minute)
        print(f"  full minutes used {used:.1%} of the {minute} allowed")
    else:
        print("  the run ended inside its first minute: the limit never bound")
    print(
        f"  first to last call: {rate:.2f} calls/s over {span:.1f} s "
        f"= {rate / (minute / 60):.1%} of the allowed {minute / 60:.2f}/s"
    )
    print_steps(run)


# ---- main ------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--contacts", type=int, default=100_000)
    p.add_argument("--invoices", type=int, default=1_000_000)
    p.add_argument("--credit-notes", type=int, default=10_000)
    p.add_argument("--accounts", type=int, default=50_000)
    p.add_argument(
        "--rss-invoices", type=int, default=250_000, help="also a full import at this size (0: no)"
    )
    p.add_argument("--backends", default="sqlite,postgresql", help="sqlite and/or postgresql")
    p.add_argument(
        "--database-url",
        help="admin URL of a PostgreSQL server to create the benchmark's databases on "
        "(default: a throwaway PostgreSQL 15)",
    )
    p.add_argument("--skip-limited", action="store_true")
    p.add_argument("--only-limited", action="store_true", help="run the limits-on part only")
    p.add_argument("--keep", metavar="DIR", help="keep the limited runs' JSON (call times)")
    p.add_argument("--limited-contacts", type=int, default=20_000)
    p.add_argument("--limited-invoices", type=int, default=200_000)
    p.add_argument("--limited-credit-notes", type=int, default=2_000)
    p.add_argument("--limited-accounts", type=int, default=10_000)
    p.add_argument("--limited-minute", default="600,120,60", help="minute limits to run at")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--profile", metavar="DIR", help="run each full import under py-spy, stacks into DIR"
    )
    return p


def main() -> None:
    parser = _parser()
    args = parser.parse_args()
    if args.profile and not (Path(sys.executable).parent / "py-spy").exists():
        parser.error("--profile needs py-spy in this environment: .venv/bin/pip install py-spy")
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    print(f"load average at start: {os.getloadavg()}")
    started = time.perf_counter()
    with sandbox_process() as (url, pid), tempfile.TemporaryDirectory() as home:
        os.environ["XERO_PIPELINES_HOME"] = home  # the token key, shared with the children
        pg = _postgres(args) if "postgresql" in backends else None
        pg_admin = pg.__enter__() if pg else None
        try:
            setup = Setup(Sandbox(url, pid), url, Path(home), args, pg_admin)
            for n, backend in enumerate([] if args.only_limited else backends):
                if args.rss_invoices and n == 0:
                    print(f"\n== {backend}: full import at {args.rss_invoices:,} invoices ==")
                    full_scale(setup, backend, args.rss_invoices, full_only=True)
                print(
                    f"\n== {backend}: {args.contacts:,} contacts, {args.invoices:,} invoices, "
                    f"{args.accounts:,} CRM accounts (load {os.getloadavg()[0]:.1f}) =="
                )
                full_scale(setup, backend, args.invoices, full_only=False)
            if not args.skip_limited:
                for minute in (int(m) for m in args.limited_minute.split(",")):
                    print(
                        f"\n== limits on, {minute} calls/minute: {args.limited_contacts:,} "
                        f"contacts, {args.limited_invoices:,} invoices, {backends[0]} "
                        f"(load {os.getloadavg()[0]:.1f}) =="
                    )
                    limited(setup, backends[0], minute)
        finally:
            if pg:
                pg.__exit__(None, None, None)
    print(f"\ndone in {time.perf_counter() - started:.0f} s; load average {os.getloadavg()}")


def _postgres(args: argparse.Namespace):
    if args.database_url:
        os.environ["XERO_PIPELINES_TEST_POSTGRES_URL"] = args.database_url
    from tests.fixtures.postgres import postgres_server

    return postgres_server()


if __name__ == "__main__":
    main()
