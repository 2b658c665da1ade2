"""Shared helpers for tests that read the spec: loading, $ref resolution, JSON-schema views."""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
SPEC_PATH = ROOT / "spec" / "flux2-flex.openapi.yaml"


@cache
def _load() -> dict[str, Any]:
    return yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def load_spec() -> dict[str, Any]:
    """A fresh deep copy of the YAML spec (tests may mutate it)."""
    return copy.deepcopy(_load())


def resolve(node: dict[str, Any], spec: dict[str, Any] | None = None) -> dict[str, Any]:
    """Follow a local ``$ref`` (``#/a/b``) once, if ``node`` is one."""
    spec = spec or _load()
    ref = node.get("$ref")
    if ref is None:
        return node
    target: Any = spec
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    return target  # type: ignore[no-any-return]


def component_schema(name: str) -> dict[str, Any]:
    """A component schema as a standalone JSON Schema whose ``#/components/...`` refs resolve."""
    spec = load_spec()
    return {**spec["components"]["schemas"][name], "components": spec["components"]}
