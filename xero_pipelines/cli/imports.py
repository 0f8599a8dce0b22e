"""`xero-pipelines import [--full-refresh]`: the scheduled import, run now, in this process.

For someone without the Dagster UI (or a terminal beside it): `xero_import_job` runs
through `defs` in-process, against the instance in `$DAGSTER_HOME` when that is set (the
run then shows in the UI like any other, tagged `xero_pipelines/launched_by=cli`), else
an ephemeral one as the demo uses. While it runs each mirror has a progress bar (pages
and records, from Xero's `pagination`); at the end a summary of what was read, written
and linked, and what it cost in Xero calls. A failed run exits 1 with one line.

An in-process run bypasses the instance's run queue, so the command refuses to start
while another import is running there; the queue in turn sees this run (it is stored
with the import's concurrency tag) and holds a scheduled import until it ends.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import click
import dagster as dg
from rich.table import Table

from xero_pipelines.assets.progress import reporting_to
from xero_pipelines.assets.xero import SPECS
from xero_pipelines.cli.console import console
from xero_pipelines.cli.errors import CliError
from xero_pipelines.cli.import_progress import MirrorBars

JOB = "xero_import_job"
MIRRORS = tuple(spec.asset for spec in SPECS)
LAUNCHED_BY = {"xero_pipelines/launched_by": "cli"}
# The bars, the summary and one line on failure say what happened; Dagster's own console
# log (a failed step prints its stack) only with XERO_PIPELINES_DEBUG=1. The run's events
# stay in the instance either way.
DEBUG_ENV = "XERO_PIPELINES_DEBUG"
ACTIVE = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


def run_config(full_refresh: bool) -> dict[str, Any]:
    """The import's run config: the mirrors' `full_refresh` flag (the launchpad's
    `ops: {xero_contacts: {config: {full_refresh: true}}, ...}`) and the console log."""
    ops = {name: {"config": {"full_refresh": True}} for name in MIRRORS} if full_refresh else {}
    level = "DEBUG" if os.environ.get(DEBUG_ENV) else "CRITICAL"
    return {"ops": ops, "loggers": {"console": {"config": {"log_level": level}}}}


@contextmanager
def configured_instance() -> Iterator[dg.DagsterInstance]:
    """`$DAGSTER_HOME`'s instance when set, else an ephemeral one (nothing is kept)."""
    if os.environ.get("DAGSTER_HOME"):
        with dg.DagsterInstance.get() as instance:
            yield instance
    else:
        with dg.DagsterInstance.ephemeral() as instance:
            yield instance


def refuse_if_running(instance: dg.DagsterInstance) -> None:
    running = instance.get_runs(dg.RunsFilter(job_name=JOB, statuses=ACTIVE), limit=1)
    if running:
        run = running[0]
        raise CliError(
            f"an import is already running on this instance (run {run.run_id[:8]}, "
            f"{run.status.value}): wait for it, or terminate it in the Dagster UI if it is stuck"
        )


@dataclass
class ImportSummary:
    """What the run's materialisations and checks reported, for the closing lines."""

    mirrors: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: int = 0
    day_remaining: int | None = None
    links: dict[str, Any] = field(default_factory=dict)
    summaries: dict[str, Any] = field(default_factory=dict)


def summarise(result: dg.ExecuteInProcessResult) -> ImportSummary:
    summary = ImportSummary()
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        meta = {k: v.value for k, v in materialization.metadata.items()}
        summary.calls += int(meta.get("xero_calls") or 0)
        if meta.get("xero_day_remaining") is not None:
            summary.day_remaining = int(meta["xero_day_remaining"])
        key = materialization.asset_key.to_user_string()
        if key in MIRRORS:
            summary.mirrors[key] = meta
        elif key == "xero_account_links":
            summary.links = meta
        elif key == "xero_account_summaries":
            summary.summaries = meta
    for evaluation in result.get_asset_check_evaluations():
        summary.calls += int(getattr(evaluation.metadata.get("xero_calls"), "value", 0) or 0)
    return summary


COLUMNS = (  # (heading, metadata key) of the summary's mirror table
    ("mirror", ""),
    ("pages", "pages"),
    ("read", "rows_read"),
    ("inserted", "rows_inserted"),
    ("updated", "rows_updated"),
    ("unchanged", "rows_unchanged"),
    ("skipped", "rows_skipped"),  # records Xero sent that could not be stored (see the run)
    ("rows now", "rows_total"),
)


def _mirror_table(summary: ImportSummary) -> Table:
    table = Table(title="Xero mirrors")
    for name, _ in COLUMNS:
        table.add_column(name, justify="left" if name == "mirror" else "right")
    for asset in MIRRORS:
        m = summary.mirrors.get(asset)
        if m is None:  # the step failed or did not run
            table.add_row(asset, *["-"] * (len(COLUMNS) - 1))
            continue
        table.add_row(asset, *(f"{int(m.get(key) or 0):,}" for _, key in COLUMNS[1:]))
    return table


def print_summary(summary: ImportSummary, full_refresh: bool) -> None:
    out = console()
    out.print(_mirror_table(summary))
    left = "" if summary.day_remaining is None else f"; {summary.day_remaining:,} left today"
    out.print(f"Xero API calls: {summary.calls:,}{left}")
    if summary.links:
        by_rule = summary.links.get("links_by_matched_by") or {}
        rules = ", ".join(f"{n} by {rule}" for rule, n in sorted(by_rule.items()))
        out.print(
            f"Links: {summary.links.get('links', 0)} ({rules or 'none'}); "
            f"{summary.links.get('added', 0)} added, {summary.links.get('removed', 0)} removed, "
            f"{summary.links.get('ambiguous', 0)} ambiguous"
        )
    if summary.summaries:
        s = summary.summaries
        out.print(
            f"Summaries: {s.get('linked_accounts', 0)} linked accounts; "
            f"{s.get('rows_inserted', 0)} inserted, {s.get('rows_updated', 0)} updated, "
            f"{s.get('rows_deleted', 0)} deleted"
        )
    if full_refresh:
        out.print("Full refresh: every record was read again and every mirror row rewritten.")


def failure_line(result: dg.ExecuteInProcessResult) -> str:
    """One line for a failed run: the first failed step and the error it raised."""
    run = result.run_id[:8]
    for event in result.get_step_failure_events():
        error = event.step_failure_data.error
        while error is not None and error.cause is not None:  # Dagster wraps the user's
            error = error.cause
        text = error.message.strip().splitlines()[0] if error and error.message else "failed"
        if error is not None and error.cls_name:  # "package.module.SomeError: what": what
            text = re.sub(rf"^[\w.]*\b{re.escape(error.cls_name)}: ", "", text)
        return f"the import failed in {event.step_key} (run {run}): {text}"
    return f"the import failed (run {run}): see the run's events in the Dagster UI"


@click.command("import")
@click.option(
    "--full-refresh",
    is_flag=True,
    help="Read every record again (no If-Modified-Since) and rewrite every mirror row.",
)
def import_command(full_refresh: bool) -> None:
    """Run xero_import_job now, in this process, with a progress bar per Xero mirror."""
    from xero_pipelines import defs
    from xero_pipelines.definitions import build_resources

    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    warnings.filterwarnings("ignore", category=dg.PreviewWarning)
    job = defs.resolve_job_def(JOB)
    with configured_instance() as instance:
        refuse_if_running(instance)
        with MirrorBars(MIRRORS, console()) as bars, reporting_to(bars):
            result = job.execute_in_process(
                run_config=run_config(full_refresh),
                instance=instance,
                raise_on_error=False,
                tags=LAUNCHED_BY,
                # Read from the environment now, as a run process would when it starts.
                resources=build_resources(),
            )
    print_summary(summarise(result), full_refresh)
    if not result.success:
        raise CliError(failure_line(result))
