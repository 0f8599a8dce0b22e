"""The `xero-pipelines` command. Each group lives in its own module beside this one.

Errors that a user can act on are printed as one line on stderr with a non-zero exit,
never as a traceback (see `cli.errors.one_line_errors`).
"""

from __future__ import annotations

import importlib
import os

import click

from xero_pipelines.cli.errors import CliError, describe

# Each command's module, imported only when that command runs (or `--help` lists them):
# `status` or `settings` need no Dagster, whose import took half of every command's
# start-up, paid again by each call a script (or the test suite) makes.
COMMANDS = {
    "db": ("xero_pipelines.cli.db", "db"),
    "crm": ("xero_pipelines.cli.crm", "crm"),
    "demo": ("xero_pipelines.cli.demo", "demo"),
    "connect": ("xero_pipelines.cli.connection", "connect"),
    "reconnect": ("xero_pipelines.cli.connection", "reconnect"),
    "disconnect": ("xero_pipelines.cli.connection", "disconnect"),
    "status": ("xero_pipelines.cli.connection", "status"),
    "settings": ("xero_pipelines.cli.settings", "settings"),
    "sandbox": ("xero_pipelines.cli.sandbox", "sandbox"),
    "preflight": ("xero_pipelines.cli.preflight", "preflight"),
    "serve": ("xero_pipelines.cli.serve", "serve"),
    "requests": ("xero_pipelines.cli.requests", "requests"),
    "import": ("xero_pipelines.cli.imports", "import_command"),
}

DEBUG_ENV = "XERO_PIPELINES_DEBUG"


class OneLineGroup(click.Group):
    """Turns any error no command anticipated into one line too (the traceback stays
    available with XERO_PIPELINES_DEBUG=1), so scripts and people never get a stack; and
    loads each command from COMMANDS when it is asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *COMMANDS})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in COMMANDS and name not in self.commands:
            module, attribute = COMMANDS[name]
            self.add_command(getattr(importlib.import_module(module), attribute), name)
        return super().get_command(ctx, name)

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
