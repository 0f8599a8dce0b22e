"""One-line failures for the command line."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import click

from xero_pipelines.db.engine import database_url, redact

P = ParamSpec("P")
R = TypeVar("R")


class CliError(click.ClickException):
    """Printed as `Error: <message>` on stderr; exit status 1."""


def one_line_errors(
    *error_types: type[BaseException],
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Turn the listed exceptions into `CliError`s (one readable line, no traceback)."""

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return func(*args, **kwargs)
            except error_types as exc:
                raise CliError(describe(exc)) from None

        return wrapper

    return decorate


def describe(exc: BaseException) -> str:
    """One line for `exc`; a driver error is shown without SQLAlchemy's statement echo,
    and never with the database's password (a driver may quote its connection string)."""
    original = getattr(exc, "orig", None)  # SQLAlchemy DBAPIError wraps the driver's error
    text = f"database error: {original}" if original is not None else str(exc)
    return " ".join(redact(text, database_url()).split()) or type(exc).__name__
