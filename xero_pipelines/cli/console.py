"""The rich console every command prints its tables and progress bars on.

Rich draws for a terminal and prints plain text (no colour, no cursor moves) into a pipe
or a file; there it would also fold every table at 80 columns, so a table piped to
`grep` or a log keeps its rows on one line at a wide width unless `COLUMNS` says else.
"""

from __future__ import annotations

import os

from rich.console import Console

PIPE_WIDTH = 200


def console(*, stderr: bool = False) -> Console:
    """A console on stdout (or stderr) as it is when called: tests capture it there."""
    out = Console(stderr=stderr, highlight=False)
    if not out.is_terminal and "COLUMNS" not in os.environ:
        out.width = PIPE_WIDTH
    return out
