"""The library's conveniences: credits, cost estimates, validate, with_options, save_to's
extension, the version and User-Agent, the settled cost, webp and user.

Each test that takes `client` or `flavour` runs for `FluxFlex` and for `AsyncFluxFlex`."""

from __future__ import annotations

import base64
import importlib.metadata
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from flux_flex import (
    AsyncFluxFlex,
    AuthenticationError,
    DownloadError,
    Estimate,
    FluxFlex,
    ProtocolError,
    RateLimitError,
    RequestValidationError,
    RetryPolicy,
    ServerError,
    TaskSnapshot,
    UntrustedHostError,
    WaitTimeoutError,
)
from flux_flex.testing import FakeBFL
from PIL import Image

from tests.clients import Flavour

from .answers import CREDITS, EU_POLL, KEY, POLL, SAMPLE, SUBMIT, NotDoneYet, accepted, ready
from .conftest import FAST_RETRY, FAST_SCHEDULE, JPEG


def image(fmt: str, size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 200, 30)).save(buffer, format=fmt)
    return buffer.getvalue()


PNG_512 = image("PNG", (512, 512))


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeBFL]:
    with FakeBFL(api_key="test-key") as server:
        yield server


# --- credits ------------------------------------------------------------------------------


def test_credits_asks_with_the_key_and_reads_the_balance(
    mock: respx.MockRouter, client: FluxFlex
) -> None:
    route = mock.get(CREDITS).respond(200, json={"credits": 1234.5, "currency": "new"})
    assert client.credits() == 1234.5
    assert route.calls.last.request.headers["x-key"] == KEY


def test_credits_errors_are_typed(mock: respx.MockRouter, client: FluxFlex) -> None:
    route = mock.get(CREDITS)
    route.respond(401, json={"detail": "bad key"})
    with pytest.raises(AuthenticationError):
        client.credits()
    route.respond(200, json={"balance": 3})
    with pytest.raises(ProtocolError) as caught:
        client.credits()
    assert caught.value.raw == {"balance": 3}
    route.respond(200, json={"credits": True})
    with pytest.raises(ProtocolError):
        client.credits()
    route.reset()
    route.side_effect = [httpx.Response(503), httpx.Response(200, json={"credits": 7})]
    assert client.credits() == 7.0  # a GET: resent after a 5xx
    assert route.call_count == 2


# --- estimate_cost ------------------------------------------------------------------------


def test_the_estimate_follows_the_pricing_rule_and_sends_nothing(
    mock: respx.MockRouter, client: FluxFlex
) -> None:
    estimate = client.estimate_cost("a fox", width=1024, height=1024)
    assert isinstance(estimate, Estimate)
    assert (estimate.credits, estimate.output_mp, estimate.input_mp) == (5.24, 1.05, 0.0)
    assert estimate.exact
    assert estimate.usd == 0.0524
    assert mock.calls.call_count == 0


def test_input_images_are_measured_by_their_real_size(client: FluxFlex, tmp_path: Path) -> None:
    path = tmp_path / "in.png"
    path.write_bytes(PNG_512)
    jpeg = image("JPEG", (800, 600))
    webp = image("WEBP", (300, 200))
    images: list[Any] = [
        path,
        str(path),
        jpeg,
        base64.b64encode(webp).decode(),
        "data:image/png;base64," + base64.b64encode(PNG_512).decode(),
    ]
    estimate = client.estimate_cost("edit", width=1024, height=1024, input_images=images)
    input_mp = (3 * 512 * 512 + 800 * 600 + 300 * 200) / 1e6
    assert estimate.input_mp == round(input_mp, 2)
    assert estimate.credits == round(5 * (1024 * 1024 / 1e6 + input_mp), 2)
    assert estimate.exact


def test_unknown_sizes_are_assumed_and_said(client: FluxFlex) -> None:
    url = client.estimate_cost("edit", input_images=["https://img.example/cat.png"])
    edit = client.estimate_cost("edit", input_images=[PNG_512])
    assert not url.exact
    assert any("unknown size" in a for a in url.assumptions)
    assert any("left to the model" in a for a in url.assumptions)
    assert url.credits == round(5 * (1024 * 1024 / 1e6 + 1.0), 2)
    # An edit without width/height: the output is assumed to be the input's size.
    assert edit.output_mp == 0.26
    assert any("first input image" in a for a in edit.assumptions)


@pytest.mark.anyio
async def test_the_async_client_estimates_synchronously_and_checks_the_request() -> None:
    # Only the async client has this to prove: estimate_cost is a plain method there too.
    async with AsyncFluxFlex(api_key=KEY) as client:
        assert client.estimate_cost("p", width=1024, height=1024).credits == 5.24
        with pytest.raises(RequestValidationError) as caught:
            client.estimate_cost("p", width=10)
    assert caught.value.fields == ["width"]


# --- validate -----------------------------------------------------------------------------


def test_validate_sends_nothing_and_names_every_bad_field(
    mock: respx.MockRouter, client: FluxFlex, tmp_path: Path
) -> None:
    assert client.validate("ok", width=1024, user="end-user-1", output_format="webp") is None
    assert client.validate("ok", save_to=tmp_path / "x.webp") is None
    with pytest.raises(RequestValidationError) as caught:
        client.validate("p", width=10, steps=99, user="")
    assert caught.value.fields == ["width", "steps", "user"]
    with pytest.raises(RequestValidationError) as caught:
        client.validate("p", output_format="png", save_to=tmp_path / "x.jpg")
    assert caught.value.fields == ["save_to"]
    with pytest.raises(RequestValidationError) as caught:
        client.validate("p", sead=7, width=10, save_to=tmp_path / "x.gif")  # type: ignore[call-arg]
    assert caught.value.fields == ["sead", "width", "save_to"]
    assert "did you mean 'seed'" in str(caught.value)
    with pytest.raises(TypeError, match="sead"):
        client.submit("p", sead=7)  # type: ignore[call-arg]
    assert mock.calls.call_count == 0


# --- save_to: the extension chooses the format --------------------------------------------


@pytest.fixture
def served(mock: respx.MockRouter) -> respx.MockRouter:
    """Submit, one Ready poll, and a sample in the format the request asked for."""
    asked: dict[str, Any] = {}

    def submit(request: httpx.Request) -> httpx.Response:
        asked.update(json.loads(request.content))
        return accepted()

    def sample(request: httpx.Request) -> httpx.Response:
        fmt = {"png": "PNG", "webp": "WEBP"}.get(asked.get("output_format", ""), "JPEG")
        return httpx.Response(200, content=image(fmt, (16, 16)))

    mock.post(SUBMIT).mock(side_effect=submit)
    mock.get(EU_POLL).mock(return_value=ready())
    mock.get(SAMPLE).mock(side_effect=sample)
    return mock


@pytest.mark.parametrize(
    ("name", "asked", "written"),
    [
        ("want.png", "png", "want.png"),
        ("want.PNG", "png", "want.PNG"),
        ("want.jpg", "jpeg", "want.jpg"),
        ("want.jpeg", "jpeg", "want.jpeg"),
        ("want.webp", "webp", "want.webp"),
        ("want", None, "want.jpg"),  # no extension: the API's default, its extension added
    ],
)
def test_the_extension_of_save_to_chooses_the_format(
    served: respx.MockRouter, client: FluxFlex, tmp_path: Path, name: str, asked: str, written: str
) -> None:
    result = client.generate("fox", save_to=tmp_path / name)
    body = json.loads(served.routes[0].calls.last.request.content)
    assert body.get("output_format") == asked
    assert result.path == str(tmp_path / written)
    assert sorted(p.name for p in tmp_path.iterdir()) == [written]


def test_an_explicit_matching_format_and_a_folder_are_fine(
    served: respx.MockRouter, client: FluxFlex, tmp_path: Path
) -> None:
    result = client.generate("fox", save_to=tmp_path / "a.jpg", output_format="jpeg")
    assert result.path == str(tmp_path / "a.jpg")
    result = client.generate("fox", save_to=tmp_path, output_format="webp")
    assert result.path == str(tmp_path / "t1.webp")


@pytest.mark.parametrize(
    ("name", "fmt", "said"),
    [
        ("want.png", "jpeg", "means output_format='png'"),
        ("want.webp", "png", "means output_format='webp'"),
        ("want.gif", None, "'.gif' is not an image format"),
        ("want.txt", "png", "'.txt' is not an image format"),
    ],
)
def test_a_contradicting_or_unknown_extension_is_refused_before_sending(
    served: respx.MockRouter,
    client: FluxFlex,
    tmp_path: Path,
    name: str,
    fmt: str | None,
    said: str,
) -> None:
    params: dict[str, Any] = {} if fmt is None else {"output_format": fmt}
    with pytest.raises(RequestValidationError) as caught:
        client.generate("fox", save_to=tmp_path / name, **params)
    assert caught.value.fields == ["save_to"]
    assert said in str(caught.value)
    assert "nothing was sent" in str(caught.value)
    assert served.calls.call_count == 0
    assert list(tmp_path.iterdir()) == []


def test_save_refuses_an_unknown_extension_before_downloading(
    served: respx.MockRouter, client: FluxFlex, tmp_path: Path
) -> None:
    result = client.job("t1", polling_url=f"{EU_POLL}?id=t1").wait(timeout=5)
    with pytest.raises(RequestValidationError) as caught:
        result.save(tmp_path / "fox.gif")
    assert caught.value.fields == ["path"]
    assert served.routes[2].call_count == 0
    # A known extension is kept or corrected to the real format (the image decides).
    assert result.save(tmp_path / "fox.png") == str(tmp_path / "fox.jpg")


# --- with_options -------------------------------------------------------------------------


def test_with_options_changes_only_the_copy(mock: respx.MockRouter, client: FluxFlex) -> None:
    route = mock.get(POLL).respond(503)
    strict = client.with_options(max_retries=0, timeout=3.0)
    with pytest.raises(ServerError):
        strict.get_result("t1")
    assert route.call_count == 1  # no resend on the copy
    assert route.calls.last.request.extensions["timeout"]["read"] == 3.0
    route.reset()
    with pytest.raises(ServerError):
        client.get_result("t1")
    assert route.call_count == FAST_RETRY.max_retries + 1  # the original keeps its budget
    assert route.calls.last.request.extensions["timeout"]["read"] == 30.0
    assert repr(strict) == repr(client)


def test_with_options_keeps_what_is_not_given(
    mock: respx.MockRouter, flavour: Flavour, tmp_path: Path
) -> None:
    own_host = "https://api.example.test/v1/get_result?id=t1"
    own_poll = mock.get(own_host).respond(503)
    busy = mock.post(SUBMIT).respond(429, headers={"Retry-After": "1"})
    mock.get(EU_POLL).mock(return_value=ready())
    sample = mock.get(SAMPLE).respond(200, content=PNG_512)  # larger than 1000 bytes
    client = flavour.client(
        api_key=KEY,
        retry=RetryPolicy(max_retries=2, backoff_initial=0.001, retry_after_max=0.5),
        poll_schedule=FAST_SCHEDULE,
        trusted_hosts=["api.example.test"],
        download_timeout=9.0,
        max_download_bytes=1000,
    )
    copy = client.with_options(max_retries=5, download_timeout=3.0)
    assert copy.base_url == client.base_url
    # The retry policy: max_retries replaced, retry_after_max kept (a Retry-After of 1 s is
    # longer than the 0.5 s it allows: raised at once, not waited for).
    with pytest.raises(ServerError):
        copy.get_result("t1", polling_url=own_host)  # the trusted host kept too
    assert own_poll.call_count == 6
    with pytest.raises(RateLimitError):
        copy.submit("fox")
    assert busy.call_count == 1
    # The poll schedule: fast polls (the default would poll once in 0.3 s).
    polls = mock.get(POLL).respond(200, json={"id": "t2", "status": "Pending"})
    with pytest.raises(WaitTimeoutError):
        copy.wait("t2", timeout=0.3)
    assert polls.call_count >= 3
    # The downloads: the new timeout, the size limit kept.
    result = copy.job("t1", polling_url=f"{EU_POLL}?id=t1").wait(timeout=5)
    with pytest.raises(DownloadError):
        result.save(tmp_path / "fox.png")
    assert 2.0 < sample.calls.last.request.extensions["timeout"]["read"] <= 3.0  # not 9 s
    assert list(tmp_path.iterdir()) == []
    # The original is untouched.
    own_poll.reset()
    with pytest.raises(ServerError):
        client.get_result("t1", polling_url=own_host)
    assert own_poll.call_count == 3


def test_with_options_replaces_what_is_given(mock: respx.MockRouter, flavour: Flavour) -> None:
    own_host = "https://api.example.test/v1/get_result?id=t1"
    own_poll = mock.get(own_host).respond(503)
    poll = mock.get(POLL).respond(503)
    client = flavour.client(
        api_key=KEY,
        retry=RetryPolicy(max_retries=5, backoff_initial=0.001, retry_after_max=0.5),
        trusted_hosts=["api.example.test"],
    )
    other = client.with_options(
        retry=RetryPolicy(max_retries=1, backoff_initial=0.001), trusted_hosts=()
    )
    with pytest.raises(UntrustedHostError):
        other.get_result("t1", polling_url=own_host)
    assert own_poll.call_count == 0  # refused before sending
    with pytest.raises(ServerError):
        other.get_result("t1")
    assert poll.call_count == 2  # one resend
    # The whole policy is the one given: a Retry-After longer than the old policy's
    # retry_after_max (0.5 s) is waited for.
    route = mock.post(SUBMIT)
    route.side_effect = [httpx.Response(429, headers={"Retry-After": "0.6"}), accepted()]
    assert other.submit("fox").id == "t1"
    assert route.call_count == 2


def test_the_copy_shares_the_pool_and_closing_it_leaves_the_pool_open(
    fake: FakeBFL, flavour: Flavour
) -> None:
    fake.reset()
    client = flavour.client(api_key=fake.api_key, base_url=fake.base_url)
    copy = client.with_options(timeout=5)
    with copy:
        copy.credits()
    assert client.credits() == fake.balance  # closing the copy did not close the pool
    assert fake.connections == 1  # one pool: the original reused the copy's connection
    client.close()
    with pytest.raises(RuntimeError, match="closed"):
        copy.credits()  # closing the original closed it for both
    assert fake.count("GET", "/v1/credits") == 2


# --- version, User-Agent ------------------------------------------------------------------


def test_version_and_user_agent(mock: respx.MockRouter, client: FluxFlex) -> None:
    import flux_flex

    assert flux_flex.__version__ == importlib.metadata.version("flux-flex")
    assert "__version__" in dir(flux_flex)
    route = mock.get(CREDITS).respond(200, json={"credits": 1})
    client.credits()
    agent = route.calls.last.request.headers["user-agent"]
    assert agent == f"flux-flex/{flux_flex.__version__} (python-httpx/{httpx.__version__})"


# --- what the reader hands back -----------------------------------------------------------


def test_the_settled_cost_is_on_the_result_and_the_job_keeps_its_own(
    mock: respx.MockRouter, client: FluxFlex
) -> None:
    mock.post(SUBMIT).mock(return_value=accepted())
    answer = ready().json()
    mock.get(EU_POLL).mock(
        side_effect=[
            httpx.Response(200, json={"id": "t1", "status": "Reasoning"}),
            httpx.Response(200, json={**answer, "cost": 5.24}),
        ]
    )
    job = client.submit("fox", output_format="webp", user="end-user-42")
    result = job.wait(timeout=5)
    assert (job.cost, result.cost) == (5.0, 5.24)
    sent = json.loads(mock.routes[0].calls.last.request.content)
    assert (sent["output_format"], sent["user"]) == ("webp", "end-user-42")


def test_a_snapshot_is_pending_until_its_status_is_final() -> None:
    for status in ("Pending", "Reasoning", "Generating", "Queued"):
        snapshot = TaskSnapshot("t", status)
        assert (snapshot.is_pending, snapshot.is_final) == (True, False)
    for status in ("Ready", "Error", "Request Moderated", "Content Moderated", "Task not found"):
        snapshot = TaskSnapshot("t", status)
        assert (snapshot.is_pending, snapshot.is_final) == (False, True)


def test_on_progress_gets_every_status_as_it_came(mock: respx.MockRouter, client: FluxFlex) -> None:
    statuses = ["Pending", "Reasoning", "Generating", "Upscaling ✨", "Ready"]
    answers = [httpx.Response(200, json={"id": "t1", "status": s}) for s in statuses[:-1]]
    mock.get(EU_POLL).mock(side_effect=[*answers, ready()])
    seen: list[TaskSnapshot] = []
    result = client.job("t1", polling_url=f"{EU_POLL}?id=t1").wait(
        timeout=5, on_progress=seen.append
    )
    assert result.url == SAMPLE
    assert [s.status for s in seen] == statuses
    assert [s.is_final for s in seen] == [False, False, False, False, True]


def test_a_jpeg_is_still_saved_under_its_real_name(
    mock: respx.MockRouter, client: FluxFlex, tmp_path: Path
) -> None:
    # The server ignored the format asked for: the file is named for what it is.
    mock.post(SUBMIT).mock(return_value=accepted())
    mock.get(EU_POLL).mock(return_value=ready())
    mock.get(SAMPLE).respond(200, content=JPEG)
    result = client.generate("fox", save_to=tmp_path / "want.png")
    assert result.path == str(tmp_path / "want.jpg")


def test_a_delivery_that_is_not_final_is_ignored_without_polling_in_a_loop(
    mock: respx.MockRouter, client: FluxFlex
) -> None:
    answers = [httpx.Response(200, json={"id": "t1", "status": "Pending"})] * 3
    route = mock.get(EU_POLL).mock(side_effect=[*answers, ready()])
    result = client.job("t1", polling_url=f"{EU_POLL}?id=t1").wait(
        timeout=5, webhook=NotDoneYet(), webhook_grace=0.02
    )
    assert result.url == SAMPLE
    assert route.call_count == 4
    mock.get(POLL).respond(200, json={"id": "t2", "status": "Pending"})
    with pytest.raises(WaitTimeoutError) as caught:
        client.wait("t2", timeout=0.5, webhook=NotDoneYet(), webhook_grace=0.05)
    # Polls come at the schedule's pace (a tight loop made thousands and then crashed).
    assert mock.routes[-1].call_count <= 15
    assert caught.value.last_status == "Pending"
