"""Dagster assets, one module per domain (`xero.py`, `crm.py`, `links.py`, `summaries.py`),
each with its checks beside it. Assets fetch through resources, call `domain` functions,
and write; they hold no business rules themselves.
"""
