"""The OpenAPI spec as shipped inside the installed package (read-only, parsed once)."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

__all__ = ["component_schema", "load_spec", "request_body_schema"]


@cache
def _spec_text() -> str:
    # `make regenerate` writes the JSON copy of spec/flux2-flex.openapi.yaml into the
    # generated package, so it travels with the client built from it (wheel or editable).
    from importlib import resources  # here: read once, and importing it is not free

    return resources.files("flux_flex_api").joinpath("openapi.json").read_text(encoding="utf-8")


def load_spec() -> dict[str, Any]:
    """A fresh copy of the whole OpenAPI document (callers may mutate it)."""
    return json.loads(_spec_text())  # type: ignore[no-any-return]


@cache
def _components() -> dict[str, Any]:
    return load_spec()["components"]  # type: ignore[no-any-return]


def component_schema(name: str) -> dict[str, Any]:
    """Schema ``components/schemas/<name>``, standalone: its ``#/components/...`` refs resolve."""
    components = _components()
    return {**json.loads(json.dumps(components["schemas"][name])), "components": components}


def request_body_schema() -> dict[str, Any]:
    """The JSON Schema of the ``POST /v1/flux-2-flex`` body (Flux2FlexInputs)."""
    return component_schema("Flux2FlexInputs")
