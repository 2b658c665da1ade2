"""Our templates make every enum the generator can write open, not only the two our spec has.

A throwaway spec with a string enum and an integer enum (the kinds openapi-python-client
writes; `literal_enums` stays off in our config) is generated with templates/ and imported:
an unknown value parses, is kept as it came, and says it is unknown.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from contract_tests.spec.test_drift import regenerate

SPEC = {
    "openapi": "3.1.0",
    "info": {"title": "Enums", "version": "0.0.1", "x-vendor-revision": "2000-01"},
    "paths": {
        "/thing": {
            "get": {
                "operationId": "get_thing",
                "responses": {
                    "200": {
                        "description": "A thing",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}
                        },
                    }
                },
            }
        }
    },
    "components": {
        "schemas": {
            "Colour": {"type": "string", "enum": ["red", "green"]},
            "Level": {"type": "integer", "enum": [1, 2, 3]},
            "Thing": {
                "type": "object",
                "required": ["colour", "level"],
                "properties": {
                    "colour": {"$ref": "#/components/schemas/Colour"},
                    "level": {"$ref": "#/components/schemas/Level"},
                },
            },
        }
    },
}


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    root = tmp_path_factory.mktemp("enums")
    spec = root / "enums.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    regenerate.generate(root / "flux_flex_api", spec)
    saved = {k: v for k, v in sys.modules.items() if k.split(".")[0] == "flux_flex_api"}
    for name in saved:
        del sys.modules[name]
    sys.path.insert(0, str(root))
    try:
        yield importlib.import_module("flux_flex_api.models")
    finally:
        sys.path.remove(str(root))
        for name in [k for k in sys.modules if k.split(".")[0] == "flux_flex_api"]:
            del sys.modules[name]
        sys.modules.update(saved)


@pytest.mark.parametrize(("enum", "known", "unknown"), [("Colour", "red", "blue"), ("Level", 2, 7)])
def test_every_kind_of_generated_enum_is_open(
    package: ModuleType, enum: str, known: Any, unknown: Any
) -> None:
    cls = getattr(package, enum)
    assert Path(package.__file__).parent.parent.name != "generated"  # the throwaway build
    assert cls(known).is_known is True
    member = cls(unknown)
    assert (member.value, member.name, member.is_known) == (unknown, "UNKNOWN", False)
    assert member == unknown
    assert str(member) == str(unknown)


def test_a_model_with_both_keeps_unknown_values(package: ModuleType) -> None:
    thing = package.Thing.from_dict({"colour": "blue", "level": 7, "extra": True})
    assert (str(thing.colour), int(thing.level)) == ("blue", 7)
    assert not thing.colour.is_known
    assert not thing.level.is_known
    assert thing.to_dict() == {"colour": "blue", "level": 7, "extra": True}


def test_an_integer_enum_refuses_what_is_not_an_integer(package: ModuleType) -> None:
    with pytest.raises(ValueError, match="'7'"):
        package.Level("7")
    with pytest.raises(ValueError, match=r"2\.5"):
        package.Level(2.5)


def test_the_config_keeps_enums_as_classes() -> None:
    # `literal_enums: true` would write Literal types whose checks raise on a new value.
    config = yaml.safe_load(regenerate.CONFIG.read_text(encoding="utf-8"))
    assert not config.get("literal_enums", False)
