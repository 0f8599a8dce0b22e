"""The run tag every job that calls Xero carries, and why its values differ.

The instance's run queue (`dagster.yaml`, `tag_concurrency_limits` on this key) admits
one import at a time; request runs queue only behind the instance's run limit. Xero's 5
calls in flight per organisation are not a run-level matter: every call holds one of 5
call slots that all processes sharing the CRM database see (`xero/call_slots.py`), so
any number of runs, or Celery workers, stay within them. One constant, so no job can
forget the tag.
"""

XERO_CONCURRENCY_TAG = "xero_pipelines/xero"
XERO_IMPORT_TAGS = {XERO_CONCURRENCY_TAG: "import"}
XERO_REQUEST_TAGS = {XERO_CONCURRENCY_TAG: "requests"}
