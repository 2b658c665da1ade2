"""Item 2, wrapper: every answer the spec allows becomes the right result or typed error."""

from __future__ import annotations

import contextlib
from typing import Any
from urllib.parse import quote, urljoin

import httpx
import pytest
import respx
from flux_flex import RetryPolicy
from flux_flex.errors import (
    APIError,
    AuthenticationError,
    FluxFlexError,
    InsufficientCreditsError,
    ModerationError,
    ProtocolError,
    RateLimitError,
    RequestValidationError,
    ServerError,
    TaskFailedError,
    TaskNotFoundError,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from contract_tests.consumer.cases import count
from contract_tests.consumer.conftest import CONTRACT_SETTINGS
from contract_tests.consumer.harness import RESULT_URL, SUBMIT_URL, wrapper
from contract_tests.consumer.strategies import (
    API_KEY,
    BASE_URL,
    error_body_schema,
    error_statuses,
    fastapi_422s,
    responses,
    result_responses,
    statuses,
)

NO_RETRIES = RetryPolicy(max_retries=0)

ERROR_FOR_STATUS: dict[int, type[APIError]] = {
    401: AuthenticationError,
    402: InsufficientCreditsError,
    403: AuthenticationError,
    422: RequestValidationError,
    429: RateLimitError,
    500: ServerError,
    502: ServerError,
    503: ServerError,
}

TASK_ERROR_FOR_STATUS: dict[str, type[FluxFlexError]] = {
    "Request Moderated": ModerationError,
    "Content Moderated": ModerationError,
    "Error": TaskFailedError,
    "Task not found": TaskNotFoundError,
}


def test_every_spec_status_has_an_expected_outcome() -> None:
    # Guards the tables above: a status added to the spec must be given a meaning here.
    assert set(statuses()) == {*TASK_ERROR_FOR_STATUS, "Pending", "Ready"}
    ops = ("generate_flux_2_flex", "get_result")
    assert {code for op in ops for code in error_statuses(op)} == set(ERROR_FOR_STATUS)


@pytest.mark.parametrize("schema", ["AsyncResponse", "AsyncWebhookResponse"])
def test_both_200_shapes_become_a_job(schema: str) -> None:
    with respx.mock() as router, httpx.Client() as http, wrapper(http) as client:
        route = router.post(SUBMIT_URL)

        @settings(CONTRACT_SETTINGS, max_examples=60)
        @given(responses(schema).filter(lambda a: a["id"] != ""))
        def check(answer: dict[str, Any]) -> None:
            count(f"response: wrapper, 200 {schema}")
            route.reset()
            route.respond(200, json=answer)
            if answer.get("polling_url") == "":
                # Allowed by the spec (no minLength) but useless: refusing it is fine.
                with pytest.raises(ProtocolError):
                    client.submit("p")
                return
            job = client.submit("p")
            assert route.call_count == 1
            assert job.id == answer["id"]
            assert dict(job.raw) == answer
            for key in ("cost", "input_mp", "output_mp"):
                assert getattr(job, key) == answer.get(key)
            if isinstance(answer.get("polling_url"), str):
                # Polled exactly as returned: a relative reference resolves against the host.
                assert job.polling_url == urljoin(f"{BASE_URL}/", answer["polling_url"])
            else:
                assert job.polling_url == f"{RESULT_URL}?id={quote(answer['id'], safe='')}"

        check()


@pytest.mark.parametrize(
    ("operation", "status"),
    [(op, code) for op in ("generate_flux_2_flex", "get_result") for code in error_statuses(op)],
)
def test_every_error_answer_becomes_its_typed_error(operation: str, status: int) -> None:
    schema = error_body_schema(operation, status)
    with (
        respx.mock() as router,
        httpx.Client() as http,
        wrapper(http, retry=NO_RETRIES) as client,
    ):
        route = (
            router.post(SUBMIT_URL)
            if operation == "generate_flux_2_flex"
            else router.get(RESULT_URL)
        )

        answers = fastapi_422s() if status == 422 else responses(schema)

        @settings(CONTRACT_SETTINGS, max_examples=8 if status != 422 else 40)
        @given(answers)
        def check(answer: dict[str, Any]) -> None:
            count("response: wrapper, error answers")
            route.reset()
            route.respond(status, json=answer)
            call = (
                (lambda: client.submit("p"))
                if operation == "generate_flux_2_flex"
                else (lambda: client.get_result("task-1"))
            )
            with pytest.raises(ERROR_FOR_STATUS[status]) as caught:
                call()
            assert route.call_count == 1
            assert caught.value.status_code == status
            assert caught.value.body == answer
            if status == 422:
                named = [
                    ".".join(str(p) for p in d["loc"] if p != "body") or "body"
                    for d in answer.get("detail", [])
                ]
                assert caught.value.fields == named  # type: ignore[attr-defined]
            if status >= 500 and operation == "generate_flux_2_flex":
                assert caught.value.task_may_exist  # type: ignore[attr-defined]

        check()


@pytest.mark.parametrize("status", statuses())
def test_every_status_of_a_poll_is_reported(status: str) -> None:
    with respx.mock() as router, httpx.Client() as http, wrapper(http) as client:
        route = router.get(RESULT_URL)

        @settings(CONTRACT_SETTINGS, max_examples=20)
        @given(result_responses(status))
        def check(answer: dict[str, Any]) -> None:
            count("response: wrapper, one poll per status")
            route.reset()
            route.respond(200, json=answer)
            snapshot = client.get_result(answer["id"])
            assert route.call_count == 1
            assert snapshot.status == status
            assert dict(snapshot.raw) == answer

        check()


@pytest.mark.parametrize("status", sorted(set(statuses()) - {"Pending"}))
def test_every_final_status_ends_the_wait_at_once(status: str) -> None:
    with respx.mock() as router, httpx.Client() as http, wrapper(http) as client:
        route = router.get(RESULT_URL)

        @settings(CONTRACT_SETTINGS, max_examples=15)
        @given(result_responses(status))
        def check(answer: dict[str, Any]) -> None:
            count("response: wrapper, wait per final status")
            route.reset()
            route.respond(200, json={**answer, "id": "task-1"})
            job = client.job("task-1")
            if status == "Ready":
                result = job.wait(timeout=5)
                assert result.url == answer["result"]["sample"]
                assert result.seed == answer["result"].get("seed")
                assert result.prompt == answer["result"].get("prompt")
                assert result.id == "task-1"
            else:
                with pytest.raises(TASK_ERROR_FOR_STATUS[status]) as caught:
                    job.wait(timeout=5)
                assert caught.value.task_id == "task-1"
                assert caught.value.status == status  # type: ignore[attr-defined]
            assert route.call_count == 1  # final at once, never polled again

        check()


def _json_values() -> st.SearchStrategy[Any]:
    scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
        max_leaves=6,
    )


@st.composite
def _near_miss_polls(draw: st.DrawFn) -> Any:
    """Poll answers that break the spec a little: a key gone, a wrong type, an odd status."""
    body: dict[str, Any] = draw(result_responses(draw(st.sampled_from(statuses()))))
    key = draw(st.sampled_from(["id", "status", "result", "progress", "details"]))
    mode = draw(st.sampled_from(["drop", "garble"]))
    if mode == "drop":
        body.pop(key, None)
    else:
        body[key] = draw(_json_values())
    return draw(st.sampled_from([body, body, draw(_json_values())]))


def test_answers_outside_the_spec_raise_typed_errors_only() -> None:
    # Never an unhandled exception: what the spec does not allow is a ProtocolError (or,
    # when it still reads as a valid answer, a result or task error).
    with respx.mock() as router, httpx.Client() as http, wrapper(http) as client:
        route = router.get(RESULT_URL)

        @settings(CONTRACT_SETTINGS, max_examples=80)
        @given(_near_miss_polls())
        def check(answer: Any) -> None:
            count("response: wrapper, near-miss poll answers")
            route.reset()
            route.respond(200, json=answer)
            with contextlib.suppress(FluxFlexError):
                client.get_result("task-1")
            assert route.call_count == 1

        check()


def test_unknown_status_is_a_protocol_error_at_once() -> None:
    # Any status the spec does not list: a ProtocolError carrying the payload, at the first
    # poll, never a wait until the deadline.
    known = set(statuses())
    with respx.mock() as router, httpx.Client() as http, wrapper(http) as client:
        route = router.get(RESULT_URL)

        @settings(CONTRACT_SETTINGS, max_examples=40)
        @given(st.text(max_size=20).filter(lambda s: s not in known))
        def check(status: str) -> None:
            count("response: wrapper, unknown status")
            route.reset()
            answer = {"id": "task-1", "status": status}
            route.respond(200, json=answer)
            with pytest.raises(ProtocolError) as caught:
                client.job("task-1").wait(timeout=5)
            assert route.call_count == 1
            assert caught.value.raw == answer
            assert caught.value.task_id == "task-1"

        check()


SECRET = "whsec-contract-secret-42"


@st.composite
def _answers_echoing_secrets(draw: st.DrawFn) -> tuple[int, dict[str, Any]]:
    """An error answer (any status the spec lists) whose text repeats the key and secret."""
    status = draw(st.sampled_from(error_statuses("generate_flux_2_flex")))
    leak = draw(st.sampled_from([API_KEY, SECRET, f"{API_KEY}/{SECRET}"]))
    said = draw(st.text(max_size=10)) + leak + draw(st.text(max_size=10))
    if status == 422:
        field = draw(st.sampled_from(["webhook_secret", "webhook_url", "prompt"]))
        return status, {"detail": [{"loc": ["body", field], "msg": said, "type": said}]}
    shape = draw(st.sampled_from(["detail", "error"]))
    return status, {"detail": said} if shape == "detail" else {"error": said, "message": said}


def test_no_error_message_repeats_the_key_or_the_webhook_secret() -> None:
    with (
        respx.mock() as router,
        httpx.Client() as http,
        wrapper(http, retry=NO_RETRIES) as client,
    ):
        route = router.post(SUBMIT_URL)

        @settings(CONTRACT_SETTINGS, max_examples=60)
        @given(_answers_echoing_secrets())
        def check(case: tuple[int, dict[str, Any]]) -> None:
            count("response: wrapper, error answers echoing secrets")
            status, answer = case
            route.reset()
            route.respond(status, json=answer)
            with pytest.raises(APIError) as caught:
                client.submit("p", webhook_url="https://h.example/hook", webhook_secret=SECRET)
            text = f"{caught.value} {caught.value!r} {caught.value.args}"
            assert API_KEY not in text
            assert SECRET not in text

        check()
