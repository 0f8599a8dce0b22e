"""`python -m xero_pipelines.cli` runs the same command as `xero-pipelines`."""

from xero_pipelines.cli import main

main(prog_name="xero-pipelines")
