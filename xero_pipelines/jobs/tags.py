"""The run tag every job that calls Xero carries.

Each such job also runs its steps in one process (`in_process_executor`): the pacer that
keeps a run within Xero's limits is per process.

Xero allows 5 calls in flight per organisation, and one run's client already keeps up to
5 in flight; the instance's run queue (`dagster.yaml`, `tag_concurrency_limits`) lets one
run with this tag talk to Xero at a time. One constant, so no job can forget it.
"""

XERO_CONCURRENCY_TAG = "xero_pipelines/xero"
XERO_RUN_TAGS = {XERO_CONCURRENCY_TAG: "organisation"}
