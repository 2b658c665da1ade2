"""The two readers of a poll agree, and so do those of a submission's answer: the plain ones
(`_plain_poll`, `_plain_ack`: read straight from the dict, what every common answer takes)
and the generated models' (`_poll_from_model`, `_ack_from_model`); and the plain polling URL
is resolved as `urljoin` resolves it.

Whenever a plain reader answers, the model's reader gives the same result, on answers
drawn from the spec (every status, unknown ones, both 200 shapes, unknown keys) and on near
misses around each rule the plain reader checks. Where the plain reader declines, the model
decides, errors included (the rest of the consumer suite judges that). The properties the
generated models require are read from the models themselves, so a spec change that adds one
makes these tests fail until the plain reader requires it too.
"""

from __future__ import annotations

import math
import types
from typing import Any
from urllib.parse import urljoin

import attrs
import pytest
from flux_flex._core import status
from flux_flex._core.status import Acknowledged, Polled, interpret_poll, interpret_submit
from flux_flex.errors import FluxFlexError
from flux_flex_api.models.async_response import AsyncResponse
from flux_flex_api.models.ready_result import ReadyResult
from flux_flex_api.models.result_response import ResultResponse
from flux_flex_api.models.result_with_cost_response import ResultWithCostResponse
from hypothesis import given, settings
from hypothesis import strategies as st

from contract_tests.consumer.cases import count
from contract_tests.consumer.conftest import CONTRACT_SETTINGS
from contract_tests.consumer.strategies import (
    BASE_URL,
    http_urls,
    ready_results,
    response_schema,
    responses,
    result_responses,
    statuses,
)

_ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**309, max_value=10**320),  # too large for a float
    st.floats(),  # NaN and infinities included
    st.text(max_size=8),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)
_STATUSES = st.one_of(st.sampled_from(statuses()), st.text(max_size=12))


@st.composite
def _answers(draw: st.DrawFn) -> dict[str, Any]:
    """A poll's answer as the spec allows it, either 200 shape, any status string."""
    status_value = draw(_STATUSES)
    body: dict[str, Any] = draw(result_responses(status_value))
    if draw(st.booleans()):
        body["cost"] = draw(responses("ResultWithCostResponse"))["cost"]
    return body


def _required(model: type[Any]) -> set[str]:
    """The properties ``model`` (a generated attrs class) cannot be built without."""
    return {f.name for f in attrs.fields(model) if f.init and f.default is attrs.NOTHING}


# The top-level values a near miss spoils: every property the models require or read, and
# (prefixed) those of a Ready answer's result.
_TARGETS = sorted(
    _required(ResultResponse)
    | _required(ResultWithCostResponse)
    | {"progress", "result", "details", "preview"}
    | {f"result.{name}" for name in _required(ReadyResult) | {"seed", "prompt"}}
)


@st.composite
def _near_misses(draw: st.DrawFn) -> dict[str, Any]:
    """A spec answer with one of the values the readers look at dropped or odd."""
    body = draw(_answers())
    if draw(st.booleans()):
        body["status"] = "Ready"
        body.setdefault("result", draw(ready_results()))
    target = draw(st.sampled_from(_TARGETS))
    value = draw(_ODD_VALUES)
    drop = draw(st.booleans())
    if target.startswith("result."):
        name = target.removeprefix("result.")
        result = body.get("result")
        if isinstance(result, dict):
            result = dict(result)
            if drop:
                result.pop(name, None)
            else:
                result[name] = value
            body["result"] = result
        else:
            body["result"] = value
    elif drop:
        body.pop(target, None)
    else:
        body[target] = value
    return body


def _same(a: Polled, b: Polled) -> bool:
    # repr as well: NaN (a progress the API may send) is not equal to itself.
    return a == b or repr(a) == repr(b)


def _model_reading(answer: Any) -> Polled | FluxFlexError:
    try:
        return status._poll_from_model(answer, expected_id="task-x", secrets=())
    except FluxFlexError as error:
        return error


def _check(answer: dict[str, Any]) -> bool:
    """The plain reader's answer, when it gives one, is the model's; True when it gave one."""
    plain = status._plain_poll(answer)
    if plain is None:
        return False
    model = _model_reading(answer)
    assert isinstance(model, Polled), f"plain read {plain!r}, the model refused: {model!r}"
    assert _same(plain, model), f"plain {plain!r} != model {model!r}"
    assert _same(interpret_poll(answer, expected_id="task-x"), model)
    return True


def test_the_readers_agree_on_every_answer_the_spec_allows() -> None:
    plain_read = 0

    @settings(CONTRACT_SETTINGS, max_examples=150)
    @given(_answers())
    def check(answer: dict[str, Any]) -> None:
        nonlocal plain_read
        count("response: plain poll reader vs generated model, spec answers")
        plain_read += _check(answer)

    check()
    # A spec answer is plainly the expected shape unless it is a Ready without a sample:
    # nearly all of them must take the plain path, or it saves nothing.
    assert plain_read >= 100


def test_the_readers_agree_on_near_misses() -> None:
    @settings(CONTRACT_SETTINGS, max_examples=200)
    @given(_near_misses())
    def check(answer: dict[str, Any]) -> None:
        count("response: plain poll reader vs generated model, near misses")
        _check(answer)

    check()


@pytest.mark.parametrize(
    ("answer", "plain"),
    [
        ({"id": "t", "status": "Pending", "progress": 0.5, "extra": [1]}, True),
        ({"id": "t", "status": "Brand-new status"}, True),
        ({"id": "t", "status": "Ready", "result": {"sample": "https://d/x.png", "seed": 7}}, True),
        ({"id": "t", "status": "Ready", "cost": 5.24, "result": {"sample": "https://d/x"}}, True),
        ({"id": "t", "status": "Ready", "result": {"sample": "s", "seed": True, "prompt": 5}}, 1),
        ({"id": "t", "status": "Ready", "result": {"sample": "s", "seed": 2.0, "prompt": "p"}}, 1),
        ({"id": "t", "status": "Pending", "progress": True, "cost": "5"}, True),
        ({"id": "t", "status": "Pending", "progress": 10**400}, True),
        ({"id": 7, "status": "Pending"}, False),
        ({"status": "Pending"}, False),
        ({"id": "t", "status": 3}, False),
        ({"id": "t"}, False),
        ({"id": "t", "status": "Ready"}, False),
        ({"id": "t", "status": "Ready", "result": ["https://d/x.png"]}, False),
        ({"id": "t", "status": "Ready", "result": {"sample": ""}}, False),
        ({"id": "t", "status": "Ready", "result": {"sample": 5}}, False),
        ({"id": "t", "status": "Ready", "result": {"seed": 5}}, False),
    ],
)
def test_which_answers_the_plain_reader_takes(answer: dict[str, Any], plain: bool) -> None:
    assert _check(answer) is bool(plain)
    # Not a dict (a read-only mapping): always the model's reader.
    assert status._plain_poll(types.MappingProxyType(answer)) is None


def test_a_huge_integer_is_no_number_for_either_reader() -> None:
    # JSON allows integers of any length; float() of one this large overflows.
    polled = interpret_poll({"id": "t", "status": "Pending", "progress": 10**400, "cost": 10**400})
    assert (polled.progress, polled.cost) == (None, None)
    model = _model_reading({"id": "t", "status": "Pending", "progress": 10**400})
    assert isinstance(model, Polled)
    assert model.progress is None
    progress = interpret_poll({"id": "t", "status": "x", "progress": math.nan}).progress
    assert progress is not None
    assert math.isnan(progress)


READY = {"id": "t", "status": "Ready", "cost": 1.0, "result": {"sample": "https://d/x.png"}}


@pytest.mark.parametrize("model", [ResultResponse, ResultWithCostResponse])
def test_an_answer_without_a_required_property_never_takes_the_plain_path(
    model: type[Any],
) -> None:
    # The models (and the spec they come from) name what an answer cannot lack; should
    # the spec add a property to that list, the plain reader must decline answers without
    # it, leaving the model to refuse them.
    required = _required(model)
    assert required == set(response_schema(model.__name__)["required"])
    complete = {name: READY.get(name, "x") for name in required | set(READY)}
    if model is ResultResponse:
        complete.pop("cost")
    assert _check(complete)
    # Without `cost` the answer is a ResultResponse (the key selects the shape), read as one.
    for name in required - {"cost"}:
        answer = {k: v for k, v in complete.items() if k != name}
        assert status._plain_poll(answer) is None, f"read an answer without {name!r}"
    for name in _required(ReadyResult):
        result = {k: v for k, v in READY["result"].items() if k != name}  # type: ignore[attr-defined]
        assert status._plain_poll({**complete, "result": result}) is None


# --- submissions ------------------------------------------------------------------------


def _ack_by_model(answer: Any) -> Acknowledged | FluxFlexError:
    try:
        return status._ack_from_model(answer, base_url=BASE_URL, secrets=())
    except FluxFlexError as error:
        return error


def _check_ack(answer: Any) -> bool:
    """The plain ack reader's answer, when it gives one, is the model's; True when it did."""
    plain = status._plain_ack(answer, BASE_URL)
    if plain is None:
        return False
    model = _ack_by_model(answer)
    assert isinstance(model, Acknowledged), f"plain read {plain!r}, the model: {model!r}"
    assert plain == model or repr(plain) == repr(model)
    assert plain.raw is not answer  # a copy, as the model's reader keeps
    assert interpret_submit(answer, base_url=BASE_URL) == plain
    return True


_ACK_TARGETS = sorted(_required(AsyncResponse) | {"cost", "input_mp", "output_mp", "webhook_url"})
_ODD_PIECES = [";", ";p", "#", "#f", "?", "?#", " ", "\t", "\n", "[", "]", "[::1]", "@", "%", ".."]


@st.composite
def _spoilt_urls(draw: st.DrawFn) -> str:
    """A plain absolute URL with something urljoin treats specially put in somewhere."""
    url = draw(http_urls())
    piece = draw(st.sampled_from(_ODD_PIECES))
    # Where urljoin's rules bite most: at the end of the path, at the very end, anywhere.
    ends = [url.find("?") % (len(url) + 1), len(url)]
    at = draw(st.sampled_from(ends) | st.integers(0, len(url)))
    url = url[:at] + piece + url[at:]
    return url.upper() if draw(st.integers(0, 9)) == 0 else url


_POLLING_URLS = st.one_of(
    http_urls(),
    _spoilt_urls(),
    st.text(max_size=20),
    st.text(alphabet="htps:/?#;[]@ .%\t\n", max_size=20),
    http_urls().map(lambda url: url + "?"),
    st.sampled_from(["/v1/get_result?id=1", "get_result?id=1", "HTTPS://API.BFL.AI/x#", ""]),
)


@st.composite
def _acks(draw: st.DrawFn) -> Any:
    """Submission answers: either 200 shape from the spec, then maybe one value spoilt."""
    body: dict[str, Any] = draw(responses("AsyncResponse") | responses("AsyncWebhookResponse"))
    if "polling_url" in body or draw(st.booleans()):
        body["polling_url"] = draw(_POLLING_URLS)
    if draw(st.booleans()):
        target = draw(st.sampled_from(_ACK_TARGETS))
        if draw(st.booleans()):
            body.pop(target, None)
        else:
            body[target] = draw(_ODD_VALUES)
    return draw(st.sampled_from([body, body, body, [body], types.MappingProxyType(body)]))


def test_the_submission_readers_agree() -> None:
    plain_read = 0

    @settings(CONTRACT_SETTINGS, max_examples=300)
    @given(_acks())
    def check(answer: Any) -> None:
        nonlocal plain_read
        count("response: plain submission reader vs generated model")
        plain_read += _check_ack(answer)

    check()
    assert plain_read >= 50  # the usual answer takes the plain path


@pytest.mark.parametrize(
    ("answer", "plain"),
    [
        ({"id": "t", "polling_url": "https://api.bfl.ai/v1/get_result?id=t", "cost": 5.24}, 1),
        ({"id": "t", "polling_url": "/v1/get_result?id=t", "extra": {}}, 1),
        ({"id": "t", "polling_url": ""}, 0),
        ({"id": "", "polling_url": "https://a/x"}, 0),
        ({"id": 7, "polling_url": "https://a/x"}, 0),
        ({"id": "t", "polling_url": 5}, 0),
        ({"id": "t", "status": "Pending", "webhook_url": "https://me/hook"}, 0),
        ({"polling_url": "https://a/x"}, 0),
    ],
)
def test_which_answers_the_plain_ack_reader_takes(answer: dict[str, Any], plain: int) -> None:
    assert _check_ack(answer) is bool(plain)
    assert status._plain_ack(types.MappingProxyType(answer), BASE_URL) is None


@settings(CONTRACT_SETTINGS, max_examples=400)
@given(
    st.sampled_from([BASE_URL, "http://127.0.0.1:8000", "https://proxy.example/bfl/"]),
    _POLLING_URLS | _spoilt_urls() | _spoilt_urls(),
)
def test_a_polling_url_is_resolved_as_urljoin_resolves_it(base: str, url: str) -> None:
    count("response: polling URL resolution vs urljoin")
    try:
        expected: str | type[Exception] = urljoin(base.rstrip("/") + "/", url)
    except ValueError:
        expected = ValueError
    try:
        got: str | type[Exception] = status._absolute(base, url)
    except ValueError:
        got = ValueError
    assert got == expected


_PLAIN_URLS = [
    "https://api.bfl.ai/v1/get_result?id=abc-123",
    "https://api.eu1.bfl.ai/v1/get_result",
    "http://127.0.0.1:8000/v1/get_result?id=1&x=2",
    "https://h.example/",
    "https://h.example",
]


def test_every_odd_piece_anywhere_in_a_plain_url_is_resolved_as_urljoin_does() -> None:
    # The exhaustive companion of the property above: each piece urljoin treats specially,
    # at every position of a few plain URLs, against each base URL.
    for base in (BASE_URL, "http://127.0.0.1:8000", "https://proxy.example/bfl/"):
        for url in _PLAIN_URLS:
            for piece in _ODD_PIECES:
                for at in range(len(url) + 1):
                    odd = url[:at] + piece + url[at:]
                    try:
                        expected: str | type[Exception] = urljoin(base.rstrip("/") + "/", odd)
                    except ValueError:
                        expected = ValueError
                    try:
                        got: str | type[Exception] = status._absolute(base, odd)
                    except ValueError:
                        got = ValueError
                    assert got == expected, (base, odd)
            assert status._absolute(base, url) == url  # the plain URL itself: as it is
