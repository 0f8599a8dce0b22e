"""xero_pipelines: a Dagster code location that keeps a CRM and a Xero organisation in step.

`defs` (see `definitions.py`) is built on first access (PEP 562), so importing a part of
the package — the sandbox above all, which must run none of the client's code, or the
command line — does not build the whole code location.
"""

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "defs":
        from xero_pipelines.definitions import defs

        return defs
    raise AttributeError(f"module 'xero_pipelines' has no attribute {name!r}")


def __dir__() -> list[str]:
    return ["defs"]
