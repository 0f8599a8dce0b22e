"""Who answers for the code location's definitions, and the groups they are shown in.

Plain constants, shared by assets, jobs and sensors (which may not import each other),
so the UI names one owner and the same four groups everywhere.
"""

from __future__ import annotations

OWNERS = ("team:data",)

XERO_GROUP = "xero"  # the Xero mirrors and the connection they are read through
CRM_GROUP = "crm"  # the CRM's own tables
INTEGRATION_GROUP = "integration"  # links, summaries, and the connection's health
REQUESTS_GROUP = "requests"  # the CRM's buttons: request sensors and jobs
GROUPS = (XERO_GROUP, CRM_GROUP, INTEGRATION_GROUP, REQUESTS_GROUP)

# Jobs, sensors and schedules have no group in Dagster: this tag says which one they
# belong to (on a job it is also a run tag, so runs can be filtered by it).
GROUP_TAG = "xero_pipelines/group"
