"""The Dockerfile, checked without Docker (there is none here): what it copies exists and is
the product only, it installs no dev or sandbox extra, runs as a user that is not root,
bakes in no secret, and its command starts this code location with options Dagster accepts."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path

import dagster as dg
from dagster._cli.code_server import code_server_cli

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SECRET_NAMES = ("CRM_DATABASE_URL", "XERO_CLIENT_SECRET", "XERO_TOKEN_KEY", "DAGSTER_PG_PASSWORD")


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, line continuations joined, comments dropped."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    pairs = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            pairs.append((word.upper(), rest.strip()))
    return pairs


DOCKERFILE = instructions((ROOT / "Dockerfile").read_text())
FINAL = DOCKERFILE[max(i for i, (word, _) in enumerate(DOCKERFILE) if word == "FROM") :]
IGNORED = {
    line.strip()
    for line in (ROOT / ".dockerignore").read_text().splitlines()
    if line.strip() and not line.startswith("#")
}


def test_every_stage_is_python_311_slim():
    images = [args.split()[0] for word, args in DOCKERFILE if word == "FROM"]
    assert images and set(images) == {"python:3.11-slim"}


def test_copies_only_the_product_and_every_source_exists():
    sources = []
    for word, args in DOCKERFILE:
        if word in ("COPY", "ADD"):
            assert word == "COPY", "ADD can fetch URLs and unpack archives: COPY only"
            parts = [part for part in shlex.split(args) if not part.startswith("--")]
            if "--from=" not in args:
                sources += parts[:-1]
    assert sources, "nothing copied"
    for source in sources:
        assert (ROOT / source).exists(), source
        assert source.rstrip("/") not in IGNORED, f"{source} is in .dockerignore"
    assert {s.rstrip("/") for s in sources} <= {"pyproject.toml", "README.md", "xero_pipelines"}


def test_dockerignore_keeps_out_tests_sandbox_and_local_state():
    assert {"tests", "xero_sandbox", ".env", ".xero_pipelines", ".venv", ".git"} <= IGNORED


def _pip_extras() -> set[str]:
    extras = set()
    for word, args in DOCKERFILE:
        if word == "RUN" and "pip " in args:
            assert " -e " not in args and "--editable" not in args
            for found in re.findall(r"\[([^\]]+)\]", args):
                extras |= {extra.strip() for extra in found.split(",")}
    return extras


def test_installs_no_dev_or_sandbox_extra():
    assert _pip_extras() == {"k8s"}
    text = (ROOT / "Dockerfile").read_text()
    for tool in ("pytest", "ruff", "openapi-core", "starlette", "uvicorn"):
        assert tool not in text


def test_k8s_extra_is_dagster_k8s_of_the_pinned_release_set():
    extras = PYPROJECT["project"]["optional-dependencies"]
    deps = PYPROJECT["project"]["dependencies"]
    postgres_pin = next(d for d in deps if d.startswith("dagster-postgres==")).split("==")[1]
    assert extras["k8s"] == [f"dagster-k8s=={postgres_pin}"]


def test_sandbox_is_not_part_of_the_product():
    assert "sandbox" in PYPROJECT["project"]["optional-dependencies"]
    assert not list((ROOT / "xero_pipelines").glob("sandbox/**/*.py"))
    base = " ".join(PYPROJECT["project"]["dependencies"])
    for server in ("starlette", "uvicorn", "dagster-webserver"):
        assert server not in base


def test_runs_as_a_user_that_is_not_root():
    users = [args for word, args in FINAL if word == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    words = [word for word, _ in FINAL]
    assert words.index("USER") < words.index("CMD")


def test_bakes_in_no_secret():
    for word, args in DOCKERFILE:
        if word in ("ENV", "ARG"):
            for name in re.findall(r"([A-Z_][A-Z0-9_]*)=", args) + args.split()[:1]:
                assert not re.search(r"SECRET|PASSWORD|TOKEN|KEY", name), f"{word} {args}"
    text = (ROOT / "Dockerfile").read_text()
    assert not any(name in text for name in SECRET_NAMES)


def test_cmd_starts_this_code_location():
    (cmd,) = [json.loads(args) for word, args in FINAL if word == "CMD"]
    assert cmd[:3] == ["dagster", "code-server", "start"]
    context = code_server_cli.commands["start"].make_context("start", cmd[3:])  # Dagster's parser
    assert context.params["module_name"] == "xero_pipelines"
    assert (context.params["host"], context.params["port"]) == ("0.0.0.0", 4000)
    module = __import__(context.params["module_name"])
    assert isinstance(module.defs, dg.Definitions)
