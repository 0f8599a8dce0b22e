"""Thin Dagster resources over the `xero` and `db` rooms."""
