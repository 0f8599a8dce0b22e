"""`xero-pipelines serve daemon|webserver [ARGS]`: the production start, in one line.

Runs `preflight`, then replaces itself (exec) with Dagster's own command on this code
location, `dagster-daemon run -w workspace.yaml` or `dagster-webserver -w workspace.yaml`,
passing ARGS on. Exec, not a child process: in a container the Dagster process is the
one that receives SIGTERM, and nothing of ours stays in between.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

import click

from xero_pipelines.cli.errors import CliError
from xero_pipelines.cli.preflight import preflight_or_exit

# Unknown options go on to Dagster's command; `-h` too (dagster-webserver's host), so
# only `--help` shows this command's help.
PASS_ON = {
    "ignore_unknown_options": True,
    "allow_extra_args": True,
    "help_option_names": ["--help"],
}
WORKSPACE_HELP = "Dagster workspace file naming this code location."


# What installs each command: the webserver is an extra (a code-location image has none).
INSTALLED_BY = {"dagster-webserver": "pip install 'xero_pipelines[webserver]'"}


def dagster_binary(name: str) -> str:
    """The Dagster command installed beside this Python (a venv), else on PATH."""
    beside = Path(sys.executable).with_name(name)
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        how = INSTALLED_BY.get(name, "install the project (pip install -e .)")
        raise CliError(f"{name} is not installed: {how}")
    return found


def start(command: Sequence[str], workspace: str, args: Sequence[str]) -> None:
    """Check the set-up, then exec `command -w workspace args...`."""
    if not Path(workspace).is_file():
        raise CliError(
            f"{workspace} not found in {Path.cwd()}: run from the project folder or pass "
            "--workspace PATH"
        )
    preflight_or_exit()
    binary = dagster_binary(command[0])
    argv = [binary, *command[1:], "-w", workspace, *args]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(binary, argv)


@click.group()
def serve() -> None:
    """Start Dagster's daemon or webserver on the production instance, after preflight."""


@serve.command("daemon", context_settings=PASS_ON)
@click.option("-w", "--workspace", default="workspace.yaml", show_default=True, help=WORKSPACE_HELP)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def daemon(workspace: str, args: tuple[str, ...]) -> None:
    """`dagster-daemon run`: schedules, sensors, the run queue, retries and monitoring."""
    start(["dagster-daemon", "run"], workspace, args)


@serve.command("webserver", context_settings=PASS_ON)
@click.option("-w", "--workspace", default="workspace.yaml", show_default=True, help=WORKSPACE_HELP)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def webserver(workspace: str, args: tuple[str, ...]) -> None:
    """`dagster-webserver` (e.g. `-h 0.0.0.0 -p 3000`): the UI and its GraphQL API."""
    start(["dagster-webserver"], workspace, args)
