"""The vendored chart schema, made usable offline: `$ref`s that leave the file are dropped.

The chart points its Kubernetes types (Affinity, EnvVar, Probe, Resources, ...) at
yannh/kubernetes-json-schema on GitHub. Tests run without a network, so each such `$ref` is
removed and its sibling keywords stay: a Kubernetes field must still be an object (or a
list, for tolerations), but what is inside it is not checked. `$ref`s inside the file
(`#/$defs/...`) and everything else are left as they are. The vendored file is not changed.

    python deploy/helm/schema/prune_refs.py                # list what is pruned
    python deploy/helm/schema/prune_refs.py -o out.json    # write the offline schema
"""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path
from typing import Any

SCHEMA = Path(__file__).with_name("values.schema.json")


def prune_external_refs(node: Any, pruned: list[str] | None = None) -> list[str]:
    """Remove, in place, every `$ref` that does not start with `#`; return them in order."""
    pruned = [] if pruned is None else pruned
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and not ref.startswith("#"):
            pruned.append(ref)
            del node["$ref"]
        for value in node.values():
            prune_external_refs(value, pruned)
    elif isinstance(node, list):
        for value in node:
            prune_external_refs(value, pruned)
    return pruned


def offline_schema(path: Path = SCHEMA) -> dict[str, Any]:
    """The schema at `path` with its external `$ref`s pruned (a fresh copy each call)."""
    schema = copy.deepcopy(json.loads(path.read_text()))
    prune_external_refs(schema)
    return schema


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, help="write the offline schema here")
    args = parser.parse_args()
    schema = json.loads(SCHEMA.read_text())
    pruned = prune_external_refs(schema)
    if args.output:
        args.output.write_text(json.dumps(schema, indent=4) + "\n")
    for ref in sorted(set(pruned)):
        print(ref)
    print(f"{len(pruned)} external $ref(s) pruned, {len(set(pruned))} distinct")


if __name__ == "__main__":
    main()
