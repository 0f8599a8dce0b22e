"""The production install carries the product only (issue 10). Both wheels are built for real
(`pip wheel`, with build isolation, as the Dockerfile builds), from a copy of the sources with
the sandbox lying beside the product as it does in the repository:

- the product's wheel holds no sandbox code and asks for the sandbox only through its `sandbox`
  extra, pinned to a local version that no public index can serve (PyPI refuses them);
- what the image installs (`xero_pipelines[k8s]` and everything under it) has no sandbox;
  starlette and uvicorn arrive only through Dagster's own packages, not on the sandbox's behalf;
- the sandbox's own wheel holds every module of `xero_sandbox/` and asks for its web server.
"""

from __future__ import annotations

import email.parser
import shutil
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
WEB_SERVER = {"starlette", "uvicorn"}
DAGSTER_WEB = {"dagster-webserver", "dagster-graphql"}  # Dagster's UI, not the sandbox


class Wheel:
    """A built wheel: its file names and the requirements of its METADATA."""

    def __init__(self, path: Path) -> None:
        with zipfile.ZipFile(path) as archive:
            self.names = archive.namelist()
            meta = next(n for n in self.names if n.endswith(".dist-info/METADATA"))
            message = email.parser.Parser().parsestr(archive.read(meta).decode())
        self.version = message["Version"]
        self.requires = [Requirement(r) for r in message.get_all("Requires-Dist") or []]

    def needs(self, extra: str = "") -> list[Requirement]:
        """What this wheel requires when installed with `extra` (or with none)."""
        return [r for r in self.requires if _applies(r, {extra})]


def _applies(req: Requirement, extras: set[str]) -> bool:
    """Whether `req` holds for an install that asked for `extras` (markers evaluated here)."""
    return req.marker is None or any(req.marker.evaluate({"extra": e}) for e in extras | {""})


def _names(reqs: list[Requirement]) -> set[str]:
    return {canonicalize_name(r.name) for r in reqs}


@pytest.fixture(scope="module")
def wheels(tmp_path_factory) -> dict[str, Wheel]:
    source, out = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("wheels")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    for name in ("xero_pipelines", "xero_sandbox"):
        shutil.copytree(ROOT / name, source / name, ignore=ignore)
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out)]
    result = subprocess.run(
        [*command, str(source), str(source / "xero_sandbox")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    return {path.name.split("-")[0]: Wheel(path) for path in out.glob("*.whl")}


def test_the_product_wheel_holds_no_sandbox(wheels):
    product = wheels["xero_pipelines"]
    assert "xero_pipelines/definitions.py" in product.names
    assert "xero_pipelines/cli/sandbox.py" in product.names  # the command, not the sandbox
    strays = [n for n in product.names if not n.startswith(("xero_pipelines/", "xero_pipelines-"))]
    assert not strays, strays


def test_the_product_asks_for_the_sandbox_only_through_its_extra(wheels):
    product = wheels["xero_pipelines"]
    assert not _names(product.needs()) & (WEB_SERVER | {"xero-sandbox"})
    assert not _names(product.needs("k8s")) & (WEB_SERVER | {"xero-sandbox"})
    (pin,) = [r for r in product.requires if canonicalize_name(r.name) == "xero-sandbox"]
    assert str(pin.marker) == 'extra == "sandbox"'
    (version,) = [spec.version for spec in pin.specifier if spec.operator == "=="]
    assert "+" in version  # a local version: PyPI refuses them, so no stranger can serve it
    assert version == wheels["xero_sandbox"].version
    dev = [r for r in product.requires if r.marker and r.marker.evaluate({"extra": "dev"})]
    assert any(canonicalize_name(r.name) == "xero-pipelines" and "sandbox" in r.extras for r in dev)


def _closure(roots: list[Requirement]) -> dict[str, set[str]]:
    """Installed name -> the distributions that ask for it, from `roots` down."""
    parents: dict[str, set[str]] = {}
    todo = [(req, "xero_pipelines") for req in roots]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        req, parent = todo.pop()
        name = canonicalize_name(req.name)
        parents.setdefault(name, set()).add(parent)
        if (name, frozenset(req.extras)) in seen:
            continue
        seen.add((name, frozenset(req.extras)))
        for text in metadata.distribution(name).requires or []:
            child = Requirement(text)
            if _applies(child, set(req.extras)):
                todo.append((child, name))
    return parents


def test_what_the_image_installs_has_no_sandbox(wheels):
    """The Dockerfile installs `xero_pipelines[k8s]`: walk what that pulls in, as installed here."""
    image = _closure(wheels["xero_pipelines"].needs("k8s"))
    assert "xero-sandbox" not in image
    assert "dagster-k8s" in image and "dagster-postgres" in image
    # Dagster's UI is an extra too: the image runs the code server only, no web server.
    assert not (WEB_SERVER | DAGSTER_WEB) & image.keys(), (WEB_SERVER | DAGSTER_WEB) & image.keys()


def test_the_sandbox_wheel_holds_every_sandbox_module_and_its_web_server(wheels):
    sandbox = wheels["xero_sandbox"]
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "xero_sandbox").rglob("*.py")}
    assert modules and modules <= set(sandbox.names), modules - set(sandbox.names)
    strays = [n for n in sandbox.names if not n.startswith(("xero_sandbox/", "xero_sandbox-"))]
    assert not strays, strays
    assert "xero_sandbox/pyproject.toml" not in sandbox.names
    assert _names(sandbox.needs()) == WEB_SERVER
