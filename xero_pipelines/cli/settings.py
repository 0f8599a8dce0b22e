"""`xero-pipelines settings show|set`: the Xero setup page's options, validated."""

from __future__ import annotations

import click
from sqlalchemy.exc import SQLAlchemyError

from xero_pipelines.cli.connection import integration_engine
from xero_pipelines.cli.errors import one_line_errors
from xero_pipelines.db.engine import DatabaseUrlError
from xero_pipelines.xero.settings import DEFAULTS, SettingError
from xero_pipelines.xero.settings_store import load_settings, set_setting

ERRORS = (SettingError, DatabaseUrlError, SQLAlchemyError, OSError)


@click.group()
def settings() -> None:
    """Show or change the integration settings."""


def _print(values: dict[str, str]) -> None:
    width = max(len(k) for k in values)
    for key, value in values.items():
        note = "" if value != DEFAULTS[key] else "  (default)"
        click.echo(f"{key:<{width}}  {value}{note}")


@settings.command("show")
@one_line_errors(*ERRORS)
def show_command() -> None:
    """Print every setting with its current value."""
    engine = integration_engine()
    try:
        _print(load_settings(engine).as_text())
    finally:
        engine.dispose()


@settings.command("set")
@click.argument("key")
@click.argument("value")
@one_line_errors(*ERRORS)
def set_command(key: str, value: str) -> None:
    """Change one setting; refused values are listed with the allowed ones."""
    engine = integration_engine()
    try:
        now = set_setting(engine, key, value).as_text()
    finally:
        engine.dispose()
    click.echo(f"{key} = {now[key]}")
