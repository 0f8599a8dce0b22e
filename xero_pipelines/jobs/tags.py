"""The run tag every job that calls Xero carries, and why its values differ.

Xero allows 5 calls in flight per organisation. The instance's run queue (`dagster.yaml`,
`tag_concurrency_limits` on this key) admits at most two runs with the tag at once, and
at most one of them an import: the import keeps up to 4 pages in flight, a request run
makes one call at a time, so together they stay within Xero's 5. One constant, so no
job can forget it.

Each such job also runs its steps in one process (`in_process_executor`): the pacer that
keeps a run within Xero's limits is per process.
"""

XERO_CONCURRENCY_TAG = "xero_pipelines/xero"
XERO_IMPORT_TAGS = {XERO_CONCURRENCY_TAG: "import"}
XERO_REQUEST_TAGS = {XERO_CONCURRENCY_TAG: "requests"}
