"""The dagster.yaml that Dagster's Helm chart renders from `deploy/helm/values.yaml`.

A translation, by hand, of the chart's `templates/configmap-instance.yaml` and its helpers
(`templates/helpers/instance/_postgresql.tpl`, `_run-launcher.tpl`, `_run-coordinator.tpl`)
for the keys our values set, so that Dagster's own instance-config validation can check
what the chart hands the daemon, the webserver and every run pod. There is no `helm`
binary here; where the chart fills a value in from its defaults or the release, the
default is written out below.
"""

from __future__ import annotations

from typing import Any

RELEASE = "xero"
NAMESPACE = "dagster"
FULLNAME = f"{RELEASE}-dagster"  # the chart's "dagster.fullname" for a release not named dagster
DAGSTER_HOME = "/opt/dagster/dagster_home"  # the chart's default global.dagsterHome


def _postgres_storage(module: str, cls: str, pg: dict[str, Any]) -> dict[str, Any]:
    return {
        "module": f"dagster_postgres.{module}",
        "class": cls,
        "config": {
            "postgres_db": {
                "username": pg["postgresqlUsername"],
                "password": {"env": "DAGSTER_PG_PASSWORD"},  # from global.postgresqlSecretName
                "hostname": pg["postgresqlHost"],
                "db_name": pg["postgresqlDatabase"],
                "port": pg["service"]["port"],
                "params": pg.get("postgresqlParams", {}),
                **({"scheme": pg["postgresqlScheme"]} if pg.get("postgresqlScheme") else {}),
            }
        },
    }


def _run_launcher(values: dict[str, Any]) -> dict[str, Any]:
    k8s = values["runLauncher"]["config"]["k8sRunLauncher"]
    config: dict[str, Any] = {
        "load_incluster_config": k8s["loadInclusterConfig"],
        "job_namespace": k8s.get("jobNamespace") or NAMESPACE,
        "image_pull_policy": k8s["imagePullPolicy"],
        "service_account_name": FULLNAME,
        "dagster_home": DAGSTER_HOME,
        "instance_config_map": f"{FULLNAME}-instance",
        "postgres_password_secret": values["global"]["postgresqlSecretName"],
    }
    if k8s.get("envSecrets"):
        config["env_secrets"] = [s["name"] for s in k8s["envSecrets"]]
    if k8s.get("envConfigMaps"):
        config["env_config_maps"] = [c["name"] for c in k8s["envConfigMaps"]]
    for key, name in [("envVars", "env_vars"), ("resources", "resources"), ("labels", "labels")]:
        if k8s.get(key):
            config[name] = k8s[key]
    return {"module": "dagster_k8s", "class": "K8sRunLauncher", "config": config}


def _run_coordinator(daemon: dict[str, Any]) -> dict[str, Any]:
    queued = daemon["runCoordinator"]["config"]["queuedRunCoordinator"]
    config: dict[str, Any] = {}
    for key, name in [
        ("maxConcurrentRuns", "max_concurrent_runs"),
        ("tagConcurrencyLimits", "tag_concurrency_limits"),
        ("dequeueIntervalSeconds", "dequeue_interval_seconds"),
    ]:
        if queued.get(key) is not None:
            config[name] = queued[key]
    return {
        "module": "dagster._core.run_coordinator",
        "class": "QueuedRunCoordinator",
        "config": config,
    }


def render_instance(values: dict[str, Any]) -> dict[str, Any]:
    """The chart's dagster.yaml for `values` (a K8sRunLauncher, queued-coordinator release)."""
    pg = values["postgresql"]
    daemon = values["dagsterDaemon"]
    rendered: dict[str, Any] = {
        "scheduler": {"module": "dagster._core.scheduler", "class": "DagsterDaemonScheduler"},
        "schedule_storage": _postgres_storage("schedule_storage", "PostgresScheduleStorage", pg),
        "run_launcher": _run_launcher(values),
        "run_storage": _postgres_storage("run_storage", "PostgresRunStorage", pg),
        "event_log_storage": _postgres_storage("event_log", "PostgresEventLogStorage", pg),
        "run_coordinator": _run_coordinator(daemon),
        "compute_logs": {
            "module": "dagster._core.storage.noop_compute_log_manager",
            "class": "NoOpComputeLogManager",
        },
        "telemetry": {"enabled": values["telemetry"]["enabled"]},
    }
    monitoring = daemon.get("runMonitoring", {})
    if monitoring.get("enabled"):
        rendered["run_monitoring"] = {
            "enabled": True,
            "start_timeout_seconds": monitoring["startTimeoutSeconds"],
            **(
                {"cancel_timeout_seconds": monitoring["cancelTimeoutSeconds"]}
                if monitoring.get("cancelTimeoutSeconds") is not None
                else {}
            ),
            "max_resume_run_attempts": monitoring["maxResumeRunAttempts"],
            "poll_interval_seconds": monitoring["pollIntervalSeconds"],
            "free_slots_after_run_end_seconds": monitoring["freeSlotsAfterRunEndSeconds"],
        }
    retries = daemon.get("runRetries", {})
    if retries.get("enabled"):
        rendered["run_retries"] = {"enabled": True, "max_retries": retries["maxRetries"]}
        if retries.get("retryOnAssetOrOpFailure") is not None:
            rendered["run_retries"]["retry_on_asset_or_op_failure"] = retries[
                "retryOnAssetOrOpFailure"
            ]
    return rendered
