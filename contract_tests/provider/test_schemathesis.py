"""schemathesis against the fake over real HTTP: positive and negative data, every check,
and stateful runs that follow the spec's link from a submission to its result."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import hypothesis
import pytest
import schemathesis
from flux_flex.testing import FakeBFL
from schemathesis.generation.stateful.state_machine import APIStateMachine

from .conftest import PROVIDER_KEY, RICH, SPEC_PATH

# Python API defaults (checked against schemathesis 4.32): generation modes positive AND
# negative, and every built-in check enabled (not_a_server_error, status_code_conformance,
# content_type_conformance, response_headers_conformance, response_schema_conformance,
# negative_data_rejection, positive_data_acceptance, missing_required_header,
# unsupported_method, allow_header_conformance, use_after_free, ensure_resource_availability,
# ignored_auth, object_level_authorization). Nothing is switched off here.
# The key goes in through the config, not as call headers: schemathesis then knows the
# header is fixed, and its negative cases about a missing key stay consistent.
schema = schemathesis.openapi.from_path(
    SPEC_PATH, config=schemathesis.Config.from_dict({"headers": {"x-key": PROVIDER_KEY}})
)

CASE_SETTINGS = hypothesis.settings(
    max_examples=60,
    deadline=None,
    derandomize=True,  # same cases every run: a red run reproduces
    suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture],
)


@schema.parametrize()
@CASE_SETTINGS
def test_every_generated_request_is_answered_per_spec(
    case: schemathesis.Case, fuzzed_fake: FakeBFL
) -> None:
    case.call_and_validate(base_url=fuzzed_fake.base_url)


@pytest.fixture(scope="module")
def saturated_fake() -> Iterator[FakeBFL]:
    """A fake whose one slot is taken for ten minutes: every valid submission gets 429."""
    with FakeBFL(
        task_seconds=600.0,
        max_in_flight=1,
        deliver_webhooks=False,
        api_key=PROVIDER_KEY,
        balance=RICH,
    ) as fake:
        taken = httpx.post(
            fake.url("/v1/flux-2-flex"), json={"prompt": "slot"}, headers={"x-key": PROVIDER_KEY}
        )
        assert taken.status_code == 200
        yield fake


@schema.include(method="POST").parametrize()
@hypothesis.settings(CASE_SETTINGS, max_examples=20)
def test_rate_limited_answers_conform_headers_included(
    case: schemathesis.Case, saturated_fake: FakeBFL
) -> None:
    response = case.call_and_validate(base_url=saturated_fake.base_url)
    assert response.status_code != 200  # 429 when valid, 401/403/422 otherwise
    if response.status_code == 429:
        assert "retry-after" in response.headers  # schemathesis lower-cases names


@pytest.fixture(scope="module")
def workflow(fuzzed_fake: FakeBFL) -> type[APIStateMachine]:
    base_url = fuzzed_fake.base_url

    class FakeWorkflow(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"base_url": base_url}

    return FakeWorkflow


def test_stateful_runs_follow_links_from_submission_to_result(
    workflow: type[APIStateMachine], fuzzed_fake: FakeBFL
) -> None:
    before = fuzzed_fake.count("GET", "/v1/get_result")
    tasks_before = set(fuzzed_fake.tasks)
    workflow.run(
        settings=hypothesis.settings(
            max_examples=40,
            stateful_step_count=4,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(hypothesis.HealthCheck),
            phases=[hypothesis.Phase.generate],
        )
    )
    # Polls reached tasks of several outcomes, so every answer shape met the spec's schema.
    polled_tasks = [t for t in fuzzed_fake.tasks.values() if t.polls]
    assert {t.outcome for t in polled_tasks} >= {"Ready", "Error", "Content Moderated"}
    # The link was followed: some polls asked about tasks this run created.
    created = set(fuzzed_fake.tasks) - tasks_before
    polled = {r.query.get("id") for r in fuzzed_fake.requests if r.path == "/v1/get_result"}
    assert fuzzed_fake.count("GET", "/v1/get_result") > before
    assert created & polled, "no poll used an id answered by a submission (links not followed)"
