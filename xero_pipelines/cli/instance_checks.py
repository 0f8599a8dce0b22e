"""Start-up checks of the Dagster instance: `$DAGSTER_HOME/dagster.yaml` and its storage.

Dagster reads this file only when a process builds its instance, and reports a typo or a
missing variable as a stack of config errors, a wrong password as a retried connection
deep in a run worker. These checks ask the same questions up front, with Dagster's own
validation, and say each answer in one sentence that names the setting to fix. Each
returns its sentences (none: fine); none prints a secret.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from dagster._config import (
    EvaluationError,
    Field,
    Shape,
    process_config,
)
from dagster._config.errors import DagsterEvaluationErrorReason
from dagster._core.errors import DagsterInvalidConfigError
from dagster._core.instance.config import dagster_instance_config, dagster_instance_config_schema

from xero_pipelines.cli.pg_checks import LOGIN_PARTS, pg_login_problem

DAGSTER_HOME = "DAGSTER_HOME"
INSTANCE_FILE = "dagster.yaml"
EXAMPLE = "deploy/dagster.yaml"
# Sections that name a class by module and class, which Dagster imports at start-up.
CLASS_SECTIONS = (
    "run_launcher",
    "run_coordinator",
    "scheduler",
    "compute_logs",
    "local_artifact_storage",
    "run_storage",
    "event_log_storage",
    "schedule_storage",
    "instance_class",
    "defs_state_storage",
)
_FEW_KEYS = 10  # list the allowed keys in the sentence when there are at most this many


@dataclass(frozen=True)
class InstanceFile:
    """`$DAGSTER_HOME/dagster.yaml`, read as YAML (not yet validated)."""

    path: Path
    raw: Mapping[str, Any]


def instance_file(env: Mapping[str, str]) -> tuple[InstanceFile | None, str | None]:
    """The instance file `DAGSTER_HOME` points at, or the sentence why there is none."""
    home = env.get(DAGSTER_HOME, "").strip()
    if not home:
        return None, (
            f"{DAGSTER_HOME} is not set: point it at the folder holding the production "
            f"{INSTANCE_FILE} (a copy of {EXAMPLE})"
        )
    folder = Path(home).expanduser()
    if not folder.is_absolute():
        return None, f"{DAGSTER_HOME}={home} must be an absolute path (Dagster refuses others)"
    path = folder / INSTANCE_FILE
    if not path.is_file():
        return None, (
            f"{DAGSTER_HOME}={home} has no {INSTANCE_FILE}: copy {EXAMPLE} there "
            "(without it Dagster would keep everything in SQLite files in that folder)"
        )
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}" if where is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        return None, f"{path} is not valid YAML{at}: {problem}"
    except OSError as exc:
        return None, f"cannot read {path}: {exc.strerror or exc}"
    if not isinstance(raw, Mapping):
        return None, f"{path} must be a mapping of settings, not a {type(raw).__name__}"
    return InstanceFile(path, raw), None


def schema_problems(file: InstanceFile) -> list[str]:
    """Dagster's own validation of the file (unknown keys, wrong types, conflicts)."""
    try:
        dagster_instance_config(str(file.path.parent), file.path.name)
    except DagsterInvalidConfigError as exc:
        if exc.errors:
            return [f"{file.path}: {_sentence(error)}" for error in exc.errors]
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return [f"{file.path}: {first}"]
    return []


def class_problems(file: InstanceFile) -> list[str]:
    """Every `module`/`class` the file names can be imported (a typo there fails only
    when the daemon builds its instance)."""
    problems = []
    for section in CLASS_SECTIONS:
        value = file.raw.get(section)
        if isinstance(value, Mapping) and "module" in value and "class" in value:
            problem = _class_problem(str(value["module"]), str(value["class"]))
            if problem:
                problems.append(f"{file.path}: {section}: {problem}")
    return problems


def _class_problem(module_name: str, class_name: str) -> str | None:
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # ImportError, or the module's own failure
        return f"module '{module_name}' cannot be imported ({type(exc).__name__}: {exc})"
    if hasattr(module, class_name):
        return None
    names = [n for n in dir(module) if not n.startswith("_")]
    close = difflib.get_close_matches(class_name, names, n=1, cutoff=0.6)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"module '{module_name}' has no class '{class_name}'{hint}"


def env_references(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, str]]:
    """(variable, dotted path) for every `{env: NAME}` in the settings."""
    if isinstance(value, Mapping):
        if set(value) == {"env"} and isinstance(value["env"], str):
            yield value["env"], ".".join(path)
            return
        for key, item in value.items():
            yield from env_references(item, (*path, str(key)))
    elif isinstance(value, list):
        for n, item in enumerate(value):
            yield from env_references(item, (*path[:-1], f"{path[-1]}[{n}]" if path else str(n)))


def env_problems(file: InstanceFile, env: Mapping[str, str]) -> list[str]:
    """A variable the file reads that is not set, named with the setting that reads it."""
    return [
        f"{name} is not set (used by {where} in {file.path})"
        for name, where in env_references(file.raw)
        if name not in env
    ]


def resolved_settings(file: InstanceFile) -> tuple[Mapping[str, Any] | None, list[str]]:
    """The settings with their variables read, as Dagster will read them (a port that is
    not a number fails here); run only when every variable is set."""
    result = process_config(Shape(dagster_instance_config_schema()), dict(file.raw))
    if result.success:
        return result.value, []
    refs = {where: name for name, where in env_references(file.raw)}
    problems = []
    for error in result.errors:
        where = ".".join(_path(error))
        if where in refs and error.reason == DagsterEvaluationErrorReason.FAILED_POST_PROCESSING:
            kind = _post_processing_text(error.message).rstrip(".").rsplit(" ", 1)[-1]
            problems.append(
                f"{refs[where]} cannot be read as {_article(kind.capitalize())} "
                f"(used by {where} in {file.path})"
            )
        else:
            problems.append(f"{file.path}: {_sentence(error)}")
    return None, problems


def storage_problem(file: InstanceFile, settings: Mapping[str, Any]) -> str | None:
    """Dagster's PostgreSQL storage accepts the configured login (a real connection)."""
    postgres = (settings.get("storage") or {}).get("postgres")
    if postgres is None:
        return None
    from dagster_postgres.utils import pg_url_from_config

    names = _setting_names(file)
    return pg_login_problem(pg_url_from_config(postgres), "Dagster's storage", names)


def _setting_names(file: InstanceFile) -> dict[str, str]:
    """For each part of the PostgreSQL login, what an operator edits to change it."""
    refs = {where: name for name, where in env_references(file.raw)}
    base = "storage.postgres"
    if "postgres_url" in file.raw["storage"]["postgres"]:
        url = refs.get(f"{base}.postgres_url", f"{base}.postgres_url in {file.path}")
        return dict.fromkeys(LOGIN_PARTS, url)
    return {
        part: refs.get(f"{base}.postgres_db.{part}", f"{base}.postgres_db.{part} in {file.path}")
        for part in LOGIN_PARTS
    }


# ---- Dagster's config errors as sentences ------------------------------------------------


def _path(error: EvaluationError) -> list[str]:
    parts: list[str] = []
    for entry in error.stack.entries:
        if hasattr(entry, "field_name"):
            parts.append(entry.field_name)
        elif hasattr(entry, "list_index") and parts:
            parts[-1] = f"{parts[-1]}[{entry.list_index}]"
    return parts


def _allowed_keys(path: list[str]) -> list[str]:
    """The keys Dagster's schema allows at `path` (empty when it cannot tell)."""
    fields: Mapping[str, Field] = dagster_instance_config_schema()
    for part in path:
        field = fields.get(part.split("[")[0])
        config_type = getattr(field, "config_type", None)
        while config_type is not None and not getattr(config_type, "fields", None):
            config_type = getattr(config_type, "inner_type", None)  # Noneable, Array
        if config_type is None:
            return []
        fields = config_type.fields
    return sorted(fields)


def _unknown_key_sentence(name: str, path: list[str]) -> str:
    under = f"under '{'.'.join(path)}'" if path else "at the top level"
    allowed = _allowed_keys(path)
    close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
    if close:
        hint = f" (did you mean '{close[0]}'?)"
    elif allowed and len(allowed) <= _FEW_KEYS:
        hint = f" (allowed: {', '.join(allowed)})"
    else:
        hint = ""
    return f"unknown key '{name}' {under}{hint}"


def _sentence(error: EvaluationError) -> str:
    """One line for one of Dagster's config errors."""
    path = _path(error)
    where = "'" + ".".join(path) + "'" if path else "the top level"
    data = error.error_data
    reason = error.reason
    if reason == DagsterEvaluationErrorReason.FIELD_NOT_DEFINED:
        return _unknown_key_sentence(data.field_name, path)
    if reason == DagsterEvaluationErrorReason.FIELDS_NOT_DEFINED:
        return "; ".join(_unknown_key_sentence(name, path) for name in data.field_names)
    if reason == DagsterEvaluationErrorReason.MISSING_REQUIRED_FIELD:
        return f"{where} is missing the required key '{data.field_name}'"
    if reason == DagsterEvaluationErrorReason.MISSING_REQUIRED_FIELDS:
        return f"{where} is missing the required keys {', '.join(map(repr, data.field_names))}"
    if reason == DagsterEvaluationErrorReason.RUNTIME_TYPE_MISMATCH:
        expected = data.config_type_snap.given_name or data.config_type_snap.key
        return f"{where} must be {_article(expected)}, not {data.value_rep}"
    if reason == DagsterEvaluationErrorReason.FAILED_POST_PROCESSING:
        return f"{where}: {_post_processing_text(error.message)}"
    first = error.message.strip().splitlines()[0]
    return f"{where}: {first.split(' Expected:')[0]}"


def _article(type_name: str) -> str:
    readable = {"Bool": "true or false", "Int": "a whole number", "String": "a string"}
    return readable.get(type_name, f"a {type_name}")


def _post_processing_text(message: str) -> str:
    """The reason inside a post-processing error (an env value of the wrong kind)."""
    for line in message.splitlines():
        line = line.strip()
        if line.startswith("dagster._config.errors.PostProcessingError:"):
            return line.split(":", 1)[1].strip()
    return message.strip().splitlines()[0]
