"""`deploy/helm/values.yaml` against the chart's own schema, and the dagster.yaml the chart
renders from it against Dagster's own instance-config validation.

Helm validates the values merged over the chart's defaults, so the schema's per-object
`required` lists are dropped here (the defaults fill those in); everything else counts, the
`if/then` rules included. The schema lets unknown top-level keys through, which would hide a
typo, so these tests refuse them too.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import re
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml
from dagster._check import CheckError
from dagster._config import validate_config
from dagster._core.errors import DagsterInvalidConfigError
from dagster._core.instance.config import dagster_instance_config
from dagster._serdes.config_class import class_from_code_pointer
from jsonschema import Draft202012Validator

from tests.deploy.chart_instance import render_instance
from xero_pipelines.jobs.tags import XERO_CONCURRENCY_TAG, XERO_IMPORT_TAGS

ROOT = Path(__file__).resolve().parents[2]
HELM = ROOT / "deploy" / "helm"
SCHEMA_DIR = HELM / "schema"


def _prune_refs_module():
    spec = importlib.util.spec_from_file_location("prune_refs", SCHEMA_DIR / "prune_refs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _without_object_required(node: Any) -> Any:
    """Drop `required` beside `properties` (defaults fill those); keep it in `then` rules."""
    if isinstance(node, dict):
        return {
            key: _without_object_required(value)
            for key, value in node.items()
            if not (key == "required" and "properties" in node)
        }
    if isinstance(node, list):
        return [_without_object_required(value) for value in node]
    return node


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    schema = _without_object_required(_prune_refs_module().offline_schema())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


@pytest.fixture
def values() -> dict[str, Any]:
    return yaml.safe_load((HELM / "values.yaml").read_text())


def schema_errors(validator: Draft202012Validator, values: dict[str, Any]) -> list[str]:
    errors = [
        f"{'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}"
        for error in validator.iter_errors(values)
    ]
    known = validator.schema["properties"]
    errors += [f"{key}: not a key of the chart" for key in values if key not in known]
    return errors


def test_vendored_schema_is_the_one_its_readme_names():
    readme = (SCHEMA_DIR / "README.md").read_text()
    digest = hashlib.sha256((SCHEMA_DIR / "values.schema.json").read_bytes()).hexdigest()
    assert digest in re.findall(r"`([0-9a-f]{64})`", readme)


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def test_pruning_removes_only_the_external_refs():
    vendored = _refs(yaml.safe_load((SCHEMA_DIR / "values.schema.json").read_text()))
    offline = _refs(_prune_refs_module().offline_schema())
    assert offline == [ref for ref in vendored if ref.startswith("#")]
    assert len(vendored) - len(offline) == 22  # the Kubernetes types (README.md)


def test_values_match_the_chart_schema(validator, values):
    assert schema_errors(validator, values) == []


def _rename(section: str, old: str, new: str):
    def mutate(values):
        values[section][new] = values[section].pop(old)

    return mutate


def _set(path: str, value: Any):
    def mutate(values):
        *parents, last = path.split(".")
        node = values
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        node[last] = value

    return mutate


QUEUED = "dagsterDaemon.runCoordinator.config.queuedRunCoordinator"
BROKEN_VALUES = {
    "typo in a closed section": (
        _rename("dagsterDaemon", "runCoordinator", "runCordinator"),
        "'runCordinator' was unexpected",
    ),
    "wrong type": (_set(f"{QUEUED}.maxConcurrentRuns", "six"), "maxConcurrentRuns"),
    "unknown launcher": (_set("runLauncher.type", "K8sLauncher"), "'K8sLauncher' is not one of"),
    "launcher config under the wrong name": (
        _set("runLauncher.config", {"k8sLauncher": {"loadInclusterConfig": True}}),
        "'k8sRunLauncher' is a required property",
    ),
    "Kubernetes field of the wrong shape": (
        _set("dagsterWebserver.securityContext", "non-root"),
        "is not of type 'object'",
    ),
    "typo at the top level": (
        lambda values: values.update(dagsterDeamon=values.pop("dagsterDaemon")),
        "dagsterDeamon: not a key of the chart",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN_VALUES))
def test_broken_values_fail(validator, values, case):
    mutate, expected = BROKEN_VALUES[case]
    mutate(values)
    errors = schema_errors(validator, values)
    assert any(expected in error for error in errors), errors


# --- the instance config the chart renders -------------------------------------------------

CLASS_SECTIONS = (
    "scheduler",
    "schedule_storage",
    "run_storage",
    "event_log_storage",
    "run_launcher",
    "run_coordinator",
    "compute_logs",
)


def validate_instance(config: dict[str, Any], home: Path) -> None:
    """Dagster's own checks: the instance schema (`dagster_instance_config`), then each
    configurable class is loaded and its `config` checked against the class's own schema."""
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    dagster_instance_config(str(home))
    for section in CLASS_SECTIONS:
        if section not in config:
            continue
        entry = config[section]
        cls = class_from_code_pointer(entry["module"], entry["class"])
        result = validate_config(cls.config_type(), entry.get("config") or {})
        if not result.success:
            raise DagsterInvalidConfigError(f"{section} config", result.errors, entry)


def test_rendered_instance_config_is_valid(values, tmp_path):
    validate_instance(render_instance(values), tmp_path / "home")


BROKEN_INSTANCE = {
    "typo in run_monitoring": ("run_monitoring", "start_timeout_second", 300),
    "typo in the coordinator's config": ("run_coordinator.config", "max_concurent_runs", 6),
    "launcher setting of the wrong type": ("run_launcher.config", "image_pull_policy", 5),
    "module that 1.13 no longer has": ("run_coordinator", "module", "dagster.core.run_coordinator"),
}


@pytest.mark.parametrize("case", sorted(BROKEN_INSTANCE))
def test_broken_instance_config_fails(values, tmp_path, case):
    path, key, value = BROKEN_INSTANCE[case]
    config = copy.deepcopy(render_instance(values))
    node = config
    for part in path.split("."):
        node = node[part]
    node[key] = value
    with pytest.raises((DagsterInvalidConfigError, CheckError)):
        validate_instance(config, tmp_path / "home")


def _instance_yamls() -> list[Path]:
    return [
        path for path in (ROOT / "dagster.yaml", ROOT / "deploy" / "dagster.yaml") if path.exists()
    ]


@pytest.mark.parametrize("path", _instance_yamls(), ids=lambda p: str(p.relative_to(ROOT)))
def test_repository_instance_yaml_is_valid(path, tmp_path):
    validate_instance(yaml.safe_load(path.read_text()), tmp_path / "home")


def _run_queue(config: dict[str, Any], home: Path, monkeypatch) -> tuple[int, list, int]:
    """What Dagster itself makes of an instance's run queue: (max runs, tag limits, dequeue s).
    Only the queue's sections are kept, so the instance loads on SQLite here."""
    queue_sections = ("run_coordinator", "run_queue", "concurrency")
    kept = {key: value for key, value in config.items() if key in queue_sections}
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(kept))
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as instance:
        queue = instance.get_concurrency_config().run_queue_config
        interval = instance.run_coordinator._dequeue_interval_seconds  # no public reader in 1.13
        limits = sorted(queue.tag_concurrency_limits, key=lambda limit: sorted(limit.items()))
        return queue.max_concurrent_runs, limits, interval


def test_helm_run_queue_equals_the_repository_dagster_yaml(values, tmp_path, monkeypatch):
    local = yaml.safe_load((ROOT / "dagster.yaml").read_text())
    expected = _run_queue(local, tmp_path / "local", monkeypatch)
    assert _run_queue(render_instance(values), tmp_path / "helm", monkeypatch) == expected


def test_helm_run_queue_admits_one_import_at_a_time(values):
    limits = render_instance(values)["run_coordinator"]["config"]["tag_concurrency_limits"]
    (value,) = XERO_IMPORT_TAGS.values()
    assert {"key": XERO_CONCURRENCY_TAG, "value": value, "limit": 1} in limits


def test_values_hold_no_secret(values):
    text = (HELM / "values.yaml").read_text()
    assert "postgresqlPassword" not in text
    assert values["generatePostgresqlPasswordSecret"] is False
    assert values["postgresql"]["enabled"] is False
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    for name in deployment.get("env", {}):
        assert not re.search(r"SECRET|PASSWORD|TOKEN|KEY|DATABASE_URL", name), name
    assert [s["name"] for s in deployment["envSecrets"]] == ["xero-pipelines"]


def test_user_deployment_runs_this_code_location(values):
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    assert deployment["codeServerArgs"] == ["-m", "xero_pipelines"]
    assert deployment["port"] == 4000
    assert deployment["includeConfigInLaunchedRuns"] == {"enabled": True}
    version = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)
    assert deployment["image"]["tag"] == version.group(1)


def _driver(postgres_db: dict) -> str:
    """The SQLAlchemy driver dagster-postgres will use for this `postgres_db` block."""
    from dagster_postgres.utils import pg_url_from_config
    from sqlalchemy.engine import make_url

    from_env = {k for k, v in postgres_db.items() if isinstance(v, dict) and "env" in v}
    plain = {**postgres_db, **{k: "5432" if k == "port" else "x" for k in from_env}}
    return make_url(pg_url_from_config({"postgres_db": plain})).get_driver_name()


def test_dagster_storage_uses_psycopg2(values):
    """SQLAlchemy 2.1 reads a bare `postgresql://` as psycopg 3, which breaks
    dagster-postgres's first event write (`NOTIFY run_events, $1`): both production
    instances name psycopg2."""
    rendered = render_instance(values)["run_storage"]["config"]["postgres_db"]
    assert _driver(rendered) == "psycopg2"
    production = yaml.safe_load((ROOT / "deploy/dagster.yaml").read_text())
    assert _driver(production["storage"]["postgres"]["postgres_db"]) == "psycopg2"
    assert _driver({"username": "u", "hostname": "h", "db_name": "d"}) == "psycopg"  # why
