"""xero_pipelines: a Dagster code location that keeps a CRM and a Xero organisation in step."""

from xero_pipelines.definitions import defs

__all__ = ["defs"]
