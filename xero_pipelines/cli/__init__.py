"""The `xero-pipelines` command. Each group lives in its own module beside this one.

Errors that a user can act on are printed as one line on stderr with a non-zero exit,
never as a traceback (see `cli.errors.one_line_errors`).
"""

from __future__ import annotations

import os

import click

from xero_pipelines.cli.connection import connect, disconnect, reconnect, status
from xero_pipelines.cli.crm import crm
from xero_pipelines.cli.db import db
from xero_pipelines.cli.demo import demo
from xero_pipelines.cli.errors import CliError, describe
from xero_pipelines.cli.imports import import_command
from xero_pipelines.cli.preflight import preflight
from xero_pipelines.cli.requests import requests
from xero_pipelines.cli.sandbox import sandbox
from xero_pipelines.cli.serve import serve
from xero_pipelines.cli.settings import settings

DEBUG_ENV = "XERO_PIPELINES_DEBUG"


class OneLineGroup(click.Group):
    """Turns any error no command anticipated into one line too (the traceback stays
    available with XERO_PIPELINES_DEBUG=1), so scripts and people never get a stack."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            if os.environ.get(DEBUG_ENV):
                raise
            raise CliError(
                f"{describe(exc)} ({type(exc).__name__}; set {DEBUG_ENV}=1 for the traceback)"
            ) from None


@click.group(cls=OneLineGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="xero_pipelines")
def main() -> None:
    """Keep a CRM and a Xero organisation in step (see README.md)."""


main.add_command(db)
main.add_command(crm)
main.add_command(demo)
main.add_command(connect)
main.add_command(reconnect)
main.add_command(disconnect)
main.add_command(status)
main.add_command(settings)
main.add_command(sandbox)
main.add_command(preflight)
main.add_command(serve)
main.add_command(requests)
main.add_command(import_command)
