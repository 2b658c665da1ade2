"""The spec's request body is faithful to the endpoint page, field by field, plus what the
vendor's published document (revision 2026-09) adds to the page.

PAGE is written by hand from the endpoint's reference page (docs/api-facts.md#request-body;
not from the spec), so a slip in either shows up here. Known slips of the page, corrected on
purpose (docs/api-facts.md#endpoint-page-slips): safety_tolerance's prose says "0 and 6"
where its range says 5; the page's example body has a `webhook_url` that is not a URI.
VENDOR_2026 is written by hand from docs/api-facts.md#vendor-document ("The vendor's
published document, 2026"): `output_format` also takes `webp`, and the body has `user`.

The fields are compared as the spec states them to the vendor (`make upstream-check`'s view:
our marked additions out, the vendor's keys the spec leaves out back in): width/height's
`default: 0` is the page's, recorded in the spec's mark rather than given to the generator
(docs/api-facts.md#width-and-height-0).
"""

from __future__ import annotations

from typing import Any

import pytest

from contract_tests.spec.vendor_docs import upstream_check
from contract_tests.spec_tools import load_spec, resolve

_ABSENT = object()

# name: (type, nullable, default, bounds, extra) -- bounds as the page's "Required range" /
# "Required string length"; extra holds enum, format and example where the page gives them.
PAGE: dict[str, tuple[str, bool, Any, dict[str, Any], dict[str, Any]]] = {
    "prompt": ("string", False, _ABSENT, {}, {"example": "ein fantastisches bild"}),
    "prompt_upsampling": ("boolean", True, True, {}, {}),
    "input_image": ("string", True, _ABSENT, {}, {}),
    "input_image_2": ("string", True, _ABSENT, {}, {}),
    "input_image_3": ("string", True, _ABSENT, {}, {}),
    "input_image_4": ("string", True, _ABSENT, {}, {}),
    "input_image_5": ("string", True, _ABSENT, {}, {}),
    "input_image_6": ("string", True, _ABSENT, {}, {}),
    "input_image_7": ("string", True, _ABSENT, {}, {}),
    "input_image_8": ("string", True, _ABSENT, {}, {}),
    "input_image_blob_path": ("string", True, _ABSENT, {}, {}),
    "seed": ("integer", True, _ABSENT, {}, {"example": 42}),
    "width": ("integer", True, 0, {"minimum": 64}, {}),
    "height": ("integer", True, 0, {"minimum": 64}, {}),
    "guidance": ("number", True, 5, {"minimum": 1.5, "maximum": 10}, {"example": 5}),
    "steps": ("integer", True, 50, {"minimum": 1, "maximum": 50}, {"example": 50}),
    "safety_tolerance": ("integer", False, 2, {"minimum": 0, "maximum": 5}, {"example": 2}),
    "output_format": ("string", True, "jpeg", {}, {"enum": ["jpeg", "png"]}),
    "webhook_url": (
        "string",
        True,
        _ABSENT,
        {"minLength": 1, "maxLength": 2083},
        {"format": "uri"},
    ),
    "webhook_secret": ("string", True, _ABSENT, {}, {}),
}

# What the vendor's 2026-09 document changes and adds (the page does not list these).
VENDOR_2026: dict[str, tuple[str, bool, Any, dict[str, Any], dict[str, Any]]] = {
    "output_format": ("string", True, "jpeg", {}, {"enum": ["jpeg", "png", "webp"]}),
    "user": ("string", True, _ABSENT, {"minLength": 1, "maxLength": 256}, {}),
}
EXPECTED = {**PAGE, **VENDOR_2026}

PAGE_DESCRIPTIONS = {
    "prompt": "Text prompt for image generation.",
    "prompt_upsampling": "Whether to use prompt upsampling.",
    "input_image": "Path to the input image.",
    "input_image_2": "Path to the second input image.",
    "input_image_3": "Path to the third input image.",
    "input_image_4": "Path to the fourth input image.",
    **{
        f"input_image_{n}": "Base64 encoded image or URL to use with Kontext. Experimental Multiref"
        for n in range(5, 9)
    },
    "input_image_blob_path": "Blob path to the input image.",
    "seed": "Optional seed for reproducibility.",
    "width": "Width of the image",
    "height": "Height of the image",
    "guidance": "Guidance scale for image generation. High guidance scales improve prompt "
    "adherence at the cost of reduced realism.",
    "steps": "Number of steps for image generation. Higher steps lead to more detailed and "
    "realistic images.",
    "webhook_url": "URL to receive webhook notifications",
    "webhook_secret": "Optional secret for webhook signature verification",
}

BOUND_KEYS = (
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
)


def describe(prop: dict[str, Any]) -> tuple[str, bool, Any, dict[str, Any], dict[str, Any]]:
    """Reduce a spec property to the page's terms: (type, nullable, default, bounds, extra)."""
    branches = [resolve(b) for b in prop.get("anyOf", [prop])]
    nullable = any(b.get("type") == "null" for b in branches)
    # The value branch is the first that is not null (width/height add a 0..0 branch after
    # it: docs/api-facts.md#image-size, "0 lets the model choose").
    value = next(b for b in branches if b.get("type") != "null")
    bounds = {k: value[k] for k in BOUND_KEYS if k in value}
    extra: dict[str, Any] = {}
    if "enum" in value:
        extra["enum"] = value["enum"]
    if "format" in value:
        extra["format"] = value["format"]
    examples = prop.get("examples")
    if examples:
        extra["example"] = examples[0]
    return value["type"], nullable, prop.get("default", _ABSENT), bounds, extra


def _raw_body() -> dict[str, Any]:
    return load_spec()["components"]["schemas"]["Flux2FlexInputs"]


def _body() -> dict[str, Any]:
    """The body as the spec states it to the vendor (marks applied)."""
    vendor = upstream_check.without_ours(load_spec())
    return vendor["components"]["schemas"]["Flux2FlexInputs"]  # type: ignore[no-any-return]


def test_the_body_has_the_twenty_fields_of_the_page_then_the_vendors_user() -> None:
    assert len(PAGE) == 20
    assert list(_body()["properties"]) == [*PAGE, "user"]
    assert _body()["required"] == ["prompt"]


@pytest.mark.parametrize("name", list(EXPECTED))
def test_field_matches_the_page_or_the_vendors_document(name: str) -> None:
    assert describe(_body()["properties"][name]) == EXPECTED[name]


def test_the_vendors_changes_are_the_only_departures_from_the_page() -> None:
    # Guards EXPECTED: the page's own entry for output_format is what the vendor widened.
    assert PAGE["output_format"][4] == {"enum": ["jpeg", "png"]}
    changed = {name for name in PAGE if EXPECTED[name] != PAGE[name]}
    assert changed == {"output_format"}


@pytest.mark.parametrize("name", list(PAGE_DESCRIPTIONS))
def test_description_matches_the_page(name: str) -> None:
    assert _body()["properties"][name]["description"] == PAGE_DESCRIPTIONS[name]


def test_safety_tolerance_description_states_the_real_range() -> None:
    description = _body()["properties"]["safety_tolerance"]["description"]
    assert "0 and 5" in description
    assert "6" not in description


def test_width_and_height_also_allow_zero_for_model_choice_marked_as_ours() -> None:
    # docs/api-facts.md#image-size: 0 lets the model choose; neither the page nor the
    # vendor's schema says so.
    for name in ("width", "height"):
        branches = _raw_body()["properties"][name]["anyOf"]
        zero = {"type": "integer", "minimum": 0, "maximum": 0, "x-flux-flex": {"ours": True}}
        assert zero in branches


def test_width_and_height_give_the_generator_no_default_and_keep_the_pages_in_the_mark() -> None:
    # docs/api-facts.md#width-and-height-0: a generated client sends an attribute's default,
    # and an explicit 0 may be refused, so the spec the generator reads has none.
    for name in ("width", "height"):
        prop = _raw_body()["properties"][name]
        assert "default" not in prop
        assert prop["x-flux-flex"] == {"vendor-keys": {"default": PAGE[name][2]}}
        assert PAGE[name][2] == 0


def test_describe_notices_a_changed_bound() -> None:
    # Guards the comparison: a one-unit change to a bound must be seen.
    prop = _body()["properties"]["steps"]
    prop["anyOf"][0]["maximum"] = 51
    assert describe(prop) != PAGE["steps"]
