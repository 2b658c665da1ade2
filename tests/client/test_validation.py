"""Both clients check a request against the spec before sending it: every bad field named,
nothing sent. (The rules themselves: tests/core/test_validation.py.)"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from flux_flex import FluxFlex, RequestValidationError

from tests.clients import Flavour


@pytest.mark.parametrize(
    ("kwargs", "field", "rule"),
    [
        ({"steps": 51}, "steps", "maximum"),
        ({"guidance": 1.4}, "guidance", "minimum"),
        ({"input_images": ["https://x.example/a.png"] * 9}, "input_images", "maxItems"),
        ({"input_images": ["/does/not/exist.png"]}, "input_images[0]", "readable"),
        ({"webhook_url": "not a url"}, "webhook_url", "format"),
        ({"webhook_url": "mailto:me@example.com"}, "webhook_url", "scheme"),
    ],
)
def test_client_refuses_bad_input_before_any_request(
    flavour: Flavour, kwargs: dict[str, Any], field: str, rule: str
) -> None:
    calls = []

    def handler(request: Any) -> Any:  # pragma: no cover - must not be reached
        calls.append(request)
        raise AssertionError("a request was sent")

    http = flavour.http_client(transport=httpx.MockTransport(handler))
    c = flavour.client(api_key="k", http_client=http)
    with pytest.raises(RequestValidationError) as info:
        c.submit("fox", **kwargs)
    assert calls == []
    assert (field, rule) in [(e.field, e.rule) for e in info.value.errors]
    assert info.value.status_code is None
    assert field in str(info.value)
    assert "nothing was sent" in str(info.value)


def test_all_errors_reported_at_once(client: FluxFlex) -> None:
    with pytest.raises(RequestValidationError) as info:
        client.submit("fox", steps=0, guidance=11, safety_tolerance=9)
    assert info.value.fields == ["guidance", "steps", "safety_tolerance"]
