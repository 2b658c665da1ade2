"""The consumer contract against the real API: what it answers must be what the spec says.

Free checks first (a refused body, an unknown task, a wrong key); then one small, priced,
guarded generation driven through the wrapper, every exchange checked against the spec.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from flux_flex import FluxFlex, PollSchedule
from flux_flex.spec import component_schema, load_spec
from flux_flex.testing import credits, megapixels
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from contract_tests.live.conftest import USD_PER_CREDIT

SUBMIT = "/v1/flux-2-flex"
POLL = "/v1/get_result"
LIVE_SIZE = (256, 256)  # the smallest sensible image: one started megapixel, 5 credits
_generations = 0  # per process: this suite spends at most one


def assert_matches(schema_name: str, instance: Any) -> None:
    """``instance`` is valid against component ``schema_name`` (format checker on)."""
    validator = Draft202012Validator(
        component_schema(schema_name), format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    errors = sorted(validator.iter_errors(instance), key=str)
    assert not errors, f"{schema_name}: {errors[0].message} in {json.dumps(instance)[:300]}"


def documented(path: str, method: str, status: int) -> str:
    """The component schema the spec names for this answer (fails if the status is not listed)."""
    spec = load_spec()
    responses = spec["paths"][path][method]["responses"]
    assert str(status) in responses, f"{method.upper()} {path} answered {status}, not in the spec"
    node = responses[str(status)]
    if "$ref" in node:
        node = spec["components"]["responses"][node["$ref"].rsplit("/", 1)[1]]
    schema = node["content"]["application/json"]["schema"]
    ref = schema.get("$ref") or schema["anyOf"][0]["$ref"]
    return str(ref.rsplit("/", 1)[1])


def test_an_invalid_body_is_answered_422_naming_the_field(
    raw_http: httpx.Client, api_key: str
) -> None:
    response = raw_http.post(SUBMIT, json={"prompt": "p", "steps": 51}, headers={"x-key": api_key})
    assert response.status_code == 422
    body = response.json()
    assert_matches(documented(SUBMIT, "post", 422), body)
    assert any("steps" in [str(p) for p in item["loc"]] for item in body["detail"])


def test_an_unknown_task_is_task_not_found(raw_http: httpx.Client, api_key: str) -> None:
    response = raw_http.get(
        POLL, params={"id": "00000000-0000-0000-0000-000000000000"}, headers={"x-key": api_key}
    )
    schema = documented(POLL, "get", response.status_code)
    assert_matches(schema, response.json())
    if response.status_code == 200:
        assert response.json()["status"] == "Task not found"


def test_a_wrong_key_is_refused_as_the_spec_says(raw_http: httpx.Client) -> None:
    response = raw_http.post(SUBMIT, json={"prompt": "p"}, headers={"x-key": "not-a-key"})
    assert response.status_code in (401, 403)
    assert_matches(documented(SUBMIT, "post", response.status_code), response.json())


def test_one_small_generation_keeps_the_contract(
    api_key: str, base_url: str, max_cost_usd: float, tmp_path: Any
) -> None:
    global _generations
    width, height = LIVE_SIZE
    estimate_usd = credits(megapixels(width, height)) * USD_PER_CREDIT
    if estimate_usd > max_cost_usd:
        pytest.skip(f"estimated {estimate_usd:.2f} USD > BFL_LIVE_MAX_COST={max_cost_usd:.2f}")
    if _generations >= 1:
        pytest.skip("this run already spent its one generation")
    _generations += 1

    exchanges: list[tuple[httpx.Request, httpx.Response]] = []

    def keep(response: httpx.Response) -> None:
        if response.request.url.path in (SUBMIT, POLL):
            response.read()
        exchanges.append((response.request, response))

    body = {"prompt": "a small red square on white", "width": width, "height": height, "seed": 1}
    with (
        httpx.Client(event_hooks={"response": [keep]}, timeout=60.0) as http,
        FluxFlex(
            api_key=api_key,
            base_url=base_url,
            http_client=http,
            poll_schedule=PollSchedule(initial=0.5, max_interval=2.0),
        ) as client,
    ):
        job = client.submit(**body)  # type: ignore[arg-type]
        result = job.wait(timeout=180)
        path = result.save(tmp_path / "live")

    posts = [(q, r) for q, r in exchanges if q.method == "POST"]
    assert len(posts) == 1, "a paid POST was sent more than once"
    request, response = posts[0]
    assert json.loads(request.content) == body
    assert request.headers["x-key"] == api_key
    assert_matches(documented(SUBMIT, "post", response.status_code), response.json())
    if job.cost is not None:
        assert job.cost <= max_cost_usd / USD_PER_CREDIT
    for poll, answer in [(q, r) for q, r in exchanges if q.url.path == POLL]:
        assert poll.headers["x-key"] == api_key
        assert_matches(documented(POLL, "get", answer.status_code), answer.json())
    ready = [r.json() for q, r in exchanges if q.url.path == POLL][-1]
    assert ready["status"] == "Ready"
    assert_matches("ReadyResult", ready["result"])
    downloads = [q for q, _ in exchanges if str(q.url) == result.url]
    assert downloads
    assert all("x-key" not in q.headers for q in downloads)
    from PIL import Image

    with Image.open(path) as image:
        assert image.size == (width, height)
