"""The webserver's GraphQL API as an operator's script or the UI uses it: launch a job,
follow, cancel and re-execute runs, read runs and asset materialisations back.

Launching goes through `dagster_graphql.DagsterGraphQLClient` (dagster-webserver's own
client); the reads it does not offer are plain POSTs to `/graphql`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests
from dagster_graphql import DagsterGraphQLClient

LOCATION, REPOSITORY = "xero_pipelines", "__repository__"

MATERIALISATIONS = """query ($keys: [AssetKeyInput!]) {
  assetNodes(assetKeys: $keys) {
    assetKey { path }
    assetMaterializations(limit: 1) { runId timestamp }
  }
}"""

RUNS = """query ($filter: RunsFilter) {
  runsOrError(filter: $filter) {
    __typename
    ... on Runs { results { runId jobName status tags { key value } } }
    ... on PythonError { message }
  }
}"""

TERMINATE = """mutation ($runId: String!) {
  terminateRun(runId: $runId, terminatePolicy: MARK_AS_CANCELED_IMMEDIATELY) {
    __typename
    ... on TerminateRunFailure { message }
    ... on PythonError { message }
  }
}"""

REEXECUTE = """mutation ($parentRunId: String!) {
  launchRunReexecution(reexecutionParams: {parentRunId: $parentRunId, strategy: FROM_FAILURE}) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}"""


class DagsterApi:
    """One webserver's GraphQL API."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.url = f"{url}/graphql"
        self.client = DagsterGraphQLClient(parts.hostname, port_number=parts.port)

    def query(self, text: str, **variables: Any) -> dict[str, Any]:
        answer = requests.post(self.url, json={"query": text, "variables": variables}, timeout=60)
        answer.raise_for_status()
        body = answer.json()
        assert "errors" not in body, body["errors"]
        return body["data"]

    def launch(self, job: str, tags: dict[str, str] | None = None) -> str:
        """`launchPipelineExecution` with the job's selector; the new run's id."""
        return self.client.submit_job_execution(
            job, repository_location_name=LOCATION, repository_name=REPOSITORY, tags=tags
        )

    def status(self, run_id: str) -> str:
        return self.client.get_run_status(run_id).value

    def cancel(self, run_id: str) -> None:
        """Terminate the run and mark it canceled at once: a run whose step was lost with
        its Celery worker would otherwise wait on that step's result for ever."""
        answer = self.query(TERMINATE, runId=run_id)["terminateRun"]
        assert answer["__typename"] == "TerminateRunSuccess", answer

    def reexecute_from_failure(self, run_id: str) -> str:
        """`launchRunReexecution`, strategy FROM_FAILURE: the steps that did not succeed."""
        answer = self.query(REEXECUTE, parentRunId=run_id)["launchRunReexecution"]
        assert answer["__typename"] == "LaunchRunSuccess", answer
        return answer["run"]["runId"]

    def runs(self, job: str | None = None) -> dict[str, dict[str, Any]]:
        """Every run the webserver's instance holds (of one job), by id."""
        runs_filter = {"pipelineName": job} if job else {}
        answer = self.query(RUNS, filter=runs_filter)["runsOrError"]
        assert answer["__typename"] == "Runs", answer
        return {run["runId"]: run for run in answer["results"]}

    def latest_materialisations(self, keys: list[str]) -> dict[str, str | None]:
        """Per asset key, the run id of its latest materialisation (None: never)."""
        nodes = self.query(MATERIALISATIONS, keys=[{"path": [k]} for k in keys])["assetNodes"]
        found = {"/".join(n["assetKey"]["path"]): n["assetMaterializations"] for n in nodes}
        return {k: (found.get(k) or [{}])[0].get("runId") for k in keys}
