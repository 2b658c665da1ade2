"""Item 2, wrapper: every answer the spec allows becomes the right result or typed error."""

from __future__ import annotations

import contextlib
import json
from typing import Any
from urllib.parse import quote, urljoin

import attrs
import httpx
import pytest
import respx
from flux_flex import FINAL_STATUSES, RetryPolicy, TaskSnapshot, is_final
from flux_flex._core.redact import mask_secrets
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
    TaskError,
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
    # Guards the tables above: the final statuses are the spec's, each with its outcome;
    # every other status the spec names (and any it may add) means "still running".
    assert {*TASK_ERROR_FOR_STATUS, "Ready"} == FINAL_STATUSES
    assert set(statuses()) >= FINAL_STATUSES
    assert set(statuses()) - FINAL_STATUSES == {"Pending", "Reasoning", "Generating"}
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
            # The body as answered, but for the key: an answer may echo it (hypothesis draws
            # fragments of it from the test's own constants), and it is never shown.
            shown = mask_secrets(answer, [API_KEY])
            assert caught.value.body == shown
            if status == 422:
                named = [
                    ".".join(str(p) for p in d["loc"] if p != "body") or "body"
                    for d in shown.get("detail", [])
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
            # An answer that shows a run of the key is kept masked (as error answers are).
            assert dict(snapshot.raw) == mask_secrets(answer, [API_KEY])

        check()


@pytest.mark.parametrize("status", sorted(FINAL_STATUSES))
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
            # json.dumps, not respx's json=: a near miss may hold NaN or Infinity, which a
            # server can send (Python's json writes them) but httpx refuses to encode.
            route.respond(
                200,
                content=json.dumps(answer).encode(),
                headers={"content-type": "application/json"},
            )
            with contextlib.suppress(FluxFlexError):
                client.get_result("task-1")
            assert route.call_count == 1

        check()


_RUNNING = st.one_of(
    st.sampled_from(sorted(set(statuses()) - FINAL_STATUSES)),
    st.text(max_size=20).filter(lambda s: not is_final(s)),
)


def test_no_status_that_is_not_final_ever_ends_a_wait() -> None:
    # Any status string outside the five final ones (the spec's running ones, or one the
    # vendor adds later) is "still running": the wait goes on, on_progress sees the status
    # exactly as sent, and the image comes when Ready does.
    with respx.mock() as router, httpx.Client() as http, wrapper(http) as client:
        route = router.get(RESULT_URL)

        @settings(CONTRACT_SETTINGS, max_examples=60)
        @given(st.lists(_RUNNING, min_size=1, max_size=4), result_responses("Ready"))
        def check(running: list[str], done: dict[str, Any]) -> None:
            count("response: wrapper, statuses that are not final")
            route.reset()
            answers = [{"id": "task-1", "status": s, "some_new_key": {"x": s}} for s in running]
            route.side_effect = [
                httpx.Response(200, json=a) for a in [*answers, {**done, "id": "task-1"}]
            ]
            seen: list[TaskSnapshot] = []
            result = client.job("task-1").wait(timeout=5, on_progress=seen.append)
            assert result.url == done["result"]["sample"]
            assert [snapshot.status for snapshot in seen] == [*running, "Ready"]
            assert [snapshot.is_pending for snapshot in seen] == [True] * len(running) + [False]
            assert route.call_count == len(running) + 1

        check()


# (no NUL: the wrapper refuses a NUL in any field before sending, webhook_secret included)
SECRET_ALPHABET = st.characters(
    codec="utf-8", exclude_categories=("Cs",), exclude_characters="\x00"
)


@st.composite
def _secrets(draw: st.DrawFn) -> str:
    """A webhook secret: a marker no message of ours contains, then anything (quotes,
    slashes, non-ASCII…)."""
    return "whsec_" + draw(st.text(SECRET_ALPHABET, min_size=2, max_size=24))


def _planted(secret: str) -> st.SearchStrategy[str]:
    """Text carrying the key or ``secret`` as is, JSON-escaped or URL-encoded."""
    forms = [
        form
        for value in (API_KEY, secret)
        for form in (value, json.dumps(value)[1:-1], quote(value, safe=""))
    ]
    return st.builds(
        lambda before, form, after: before + form + after,
        st.text(max_size=8),
        st.sampled_from(forms),
        st.text(max_size=8),
    )


def _planted_json(secret: str) -> st.SearchStrategy[Any]:
    text = st.one_of(_planted(secret), st.text(max_size=8))
    return st.recursive(
        st.one_of(text, st.integers(), st.none()),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
        max_leaves=8,
    )


@st.composite
def _error_answers(draw: st.DrawFn) -> tuple[str, int, Any, str]:
    """(operation, HTTP status, answer, webhook secret): an error answer of a shape the spec
    lists, with the key or the secret planted anywhere in it, keys included."""
    secret = draw(_secrets())
    operation = draw(st.sampled_from(["generate_flux_2_flex", "get_result"]))
    status = draw(st.sampled_from(error_statuses(operation)))
    body: Any = draw(
        fastapi_422s() if status == 422 else responses(error_body_schema(operation, status))
    )
    planted = draw(_planted_json(secret))
    where = draw(st.sampled_from(["extra", "detail", "text", "nested-422"]))
    if where == "text":
        body = draw(_planted(secret))
    elif where == "nested-422" and status == 422 and body.get("detail"):
        body["detail"][0]["msg"] = draw(_planted(secret))
        body["detail"][0]["loc"] = ["body", draw(_planted(secret))]
    elif where == "detail":
        body["detail"] = planted
    else:
        body[draw(_planted(secret))] = planted
    return operation, status, body, secret


@st.composite
def _failed_tasks(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    """A poll answer with a final failure status whose payload carries the secrets."""
    secret = draw(_secrets())
    status = draw(st.sampled_from(sorted(TASK_ERROR_FOR_STATUS)))
    answer = draw(result_responses(status))
    answer.update(
        id="task-1",
        error=draw(_planted(secret)),
        message=draw(_planted(secret)),
        details={draw(_planted(secret)): draw(_planted_json(secret))},
    )
    answer[draw(_planted(secret))] = draw(_planted_json(secret))
    return answer, secret


def _strings(value: Any) -> list[str]:
    """Every string inside ``value``: keys, values, tuples, attrs instances, bytes."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, bytes):
        return [value.decode("utf-8", "replace")]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    if attrs.has(type(value)):
        return _strings(attrs.asdict(value, recurse=False))
    return []


def _assert_nothing_shows(error: BaseException, *secrets: str) -> None:
    texts = [str(error), repr(error), *_strings(error.args), *_strings(vars(error))]
    for secret in secrets:
        for form in {secret, json.dumps(secret)[1:-1], quote(secret, safe="")}:
            shown = [t for t in texts if form in t]
            assert not shown, f"{form!r} shows in {shown[0]!r}"


def test_no_secret_planted_in_an_error_answer_ever_shows() -> None:
    with (
        respx.mock(assert_all_called=False) as router,
        httpx.Client() as http,
        wrapper(http, retry=NO_RETRIES) as client,
    ):
        submit = router.post(SUBMIT_URL)
        poll = router.get(RESULT_URL)

        @settings(CONTRACT_SETTINGS, max_examples=150)
        @given(_error_answers())
        def check(case: tuple[str, int, Any, str]) -> None:
            count("response: wrapper, secrets planted in error answers")
            operation, status, answer, secret = case
            submit.reset()
            poll.reset()
            route = submit if operation == "generate_flux_2_flex" else poll
            if isinstance(answer, str):
                route.respond(status, text=answer)
            else:
                route.respond(status, json=answer)
            call = (
                (
                    lambda: client.submit(
                        "p", webhook_url="https://h.example/hook", webhook_secret=secret
                    )
                )
                if operation == "generate_flux_2_flex"
                else (lambda: client.job("task-1", webhook_secret=secret).wait(timeout=5))
            )
            with pytest.raises(FluxFlexError) as caught:
                call()
            assert route.call_count == 1
            _assert_nothing_shows(caught.value, API_KEY, secret)

        check()


def test_no_secret_in_a_failed_tasks_answer_ever_shows() -> None:
    with respx.mock() as router, httpx.Client() as http, wrapper(http) as client:
        route = router.get(RESULT_URL)

        @settings(CONTRACT_SETTINGS, max_examples=100)
        @given(_failed_tasks())
        def check(case: tuple[dict[str, Any], str]) -> None:
            count("response: wrapper, secrets planted in failed tasks")
            answer, secret = case
            route.reset()
            route.respond(200, json=answer)
            with pytest.raises(TaskError) as caught:
                client.job("task-1", webhook_secret=secret).wait(timeout=5)
            assert caught.value.task_id == "task-1"
            _assert_nothing_shows(caught.value, API_KEY, secret)

        check()
