"""The wrapper and the fake refuse the same bodies for the same field.

Each invalid value the spec implies (bounds just past, wrong types, bad URLs) is sent raw to
`FakeBFL`, which must answer 422 with ``loc`` naming the field (FastAPI's shape, per the
spec), and given to the wrapper, which must refuse it locally naming the same field. So the
offline fake users test against cannot drift from the client's own checks.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from flux_flex.errors import RequestValidationError
from flux_flex.spec import component_schema
from flux_flex.testing import FakeBFL
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from contract_tests.consumer.cases import count
from contract_tests.consumer.harness import wrapper
from contract_tests.consumer.test_invalid_input import CASES

VALIDATION_ERROR = Draft202012Validator(component_schema("HTTPValidationError"))


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeBFL]:
    with FakeBFL(task_seconds=0.05, deliver_webhooks=False) as fake:
        yield fake


@pytest.fixture(scope="module")
def raw(fake: FakeBFL) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fake.base_url, headers={"x-key": fake.api_key}) as client:
        yield client


def test_agreement_on_every_invalid_value(fake: FakeBFL, raw: httpx.Client) -> None:
    mismatches: list[str] = []
    with wrapper(api_key=fake.api_key, base_url=fake.base_url) as client:
        for name, value in CASES:
            count("agreement: wrapper and fake refuse the same field")
            body: dict[str, Any] = {"prompt": "p", name: value}
            before = fake.count("POST", "/v1/flux-2-flex")
            with pytest.raises(RequestValidationError) as caught:
                client.submit(**body)
            assert fake.count("POST", "/v1/flux-2-flex") == before, "the wrapper sent it"
            answer = raw.post("/v1/flux-2-flex", json=body)
            if answer.status_code != 422:
                mismatches.append(f"{name}={value!r}: fake answered {answer.status_code}")
                continue
            detail = answer.json()
            assert VALIDATION_ERROR.is_valid(detail), detail
            named = {str(item["loc"][1]) for item in detail["detail"] if len(item["loc"]) > 1}
            if name not in named:
                mismatches.append(f"{name}={value!r}: fake named {sorted(named)}")
            if name not in caught.value.fields:
                mismatches.append(f"{name}={value!r}: wrapper named {caught.value.fields}")
    assert not mismatches, "\n".join(mismatches)


def test_the_fake_accepts_what_the_wrapper_sends(fake: FakeBFL) -> None:
    # The control: a valid submission through the wrapper is accepted by the fake.
    count("agreement: control")
    with wrapper(api_key=fake.api_key, base_url=fake.base_url) as client:
        job = client.submit("p", width=64, height=64, steps=1, guidance=1.5, safety_tolerance=5)
    assert job.id in fake.tasks
