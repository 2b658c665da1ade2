"""API answers over real sockets: the common poll takes the short path (read whole, parsed
without the generated model), and every answer that is not plainly small still goes through
the checked stream: unannounced, compressed, oversized, or a compressed body that inflates
past the cap, or arrives on a transport whose sockets flux-flex cannot cap."""

from __future__ import annotations

import gzip
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from flux_flex import APITimeoutError, AsyncFluxFlex, FluxFlex, ProtocolError, _files
from flux_flex._drivers import MAX_ANSWER_BYTES
from flux_flex_api.models.ready_result import ReadyResult
from flux_flex_api.models.result_response import ResultResponse
from flux_flex_api.models.result_with_cost_response import ResultWithCostResponse

from tests.hostile import POLL, Api, Exchange, Handler, HostileServer, handlers
from tests.hostile.conftest import FAST_RETRY, FAST_SCHEDULE, KEY, MARGIN

PENDING = {"id": "task-1", "status": "Pending", "progress": 0.5}
READY = {
    "id": "task-1",
    "status": "Ready",
    "cost": 5.24,
    "result": {"sample": "https://delivery.example/s.png", "seed": 3},
}


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How many body sinks and generated poll models were made."""
    made: Counter[str] = Counter()

    class CountingSink(_files.BodySink):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            made["sink"] += 1
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(_files, "BodySink", CountingSink)
    for model in (ResultResponse, ResultWithCostResponse, ReadyResult):
        monkeypatch.setattr(model, "from_dict", _counting(model.from_dict, made, model.__name__))
    return made


def _counting(method: Callable[..., Any], made: Counter[str], name: str) -> Any:
    def from_dict(src_dict: Any) -> Any:
        made[name] += 1
        return method(src_dict)

    return classmethod(lambda cls, src_dict: from_dict(src_dict))


def client(server: HostileServer) -> FluxFlex:
    return FluxFlex(api_key=KEY, base_url=server.url, poll_schedule=FAST_SCHEDULE, retry=FAST_RETRY)


def test_a_poll_is_read_whole_and_parsed_without_the_generated_model(
    server: HostileServer, api: Api, made: Counter[str]
) -> None:
    api.task_seconds = 0.05
    with client(server) as c:
        job = c.submit("a fox")
        result = job.wait(timeout=10)
        for _ in range(3):
            assert c.get_result(job).status == "Ready"
    assert f"/samples/{job.id}.png" in result.url
    assert result.cost == 5.0
    polls = server.count("GET", POLL)
    assert polls >= 4
    # Every answer here announces its length and is not compressed: no sink, no model.
    assert made == Counter()


@pytest.mark.anyio
@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
async def test_answers_that_are_not_plainly_small_still_stream_through_the_sink(
    server: HostileServer, made: Counter[str], use_async: bool
) -> None:
    body = json.dumps(PENDING).encode()
    chunked = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    )
    server.route(
        "GET",
        POLL,
        handlers.sequence(
            lambda exchange: exchange.write(chunked),
            handlers.respond(200, gzip.compress(body), {"Content-Encoding": "gzip"}),
            handlers.respond(200, body, {"Content-Length": "0" + str(len(body))}),
            handlers.raw_json(json.dumps(READY)),
        ),
    )
    statuses = []
    if use_async:
        async with AsyncFluxFlex(api_key=KEY, base_url=server.url, retry=FAST_RETRY) as ac:
            for _ in range(4):
                statuses.append((await ac.get_result("task-1")).status)
    else:
        with client(server) as c:
            statuses = [c.get_result("task-1").status for _ in range(4)]
    assert statuses == ["Pending", "Pending", "Pending", "Ready"]
    assert made == Counter(sink=2)  # chunked and gzip; "0…" is a Content-Length all the same


def _chunked_despite_its_length(size: int) -> Handler:
    """A 200 announcing a small Content-Length but framed chunked (which wins, RFC 9112):
    ``size`` bytes of zeros follow, however short the length it announced."""

    def handler(exchange: Exchange) -> None:
        head = (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 40\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        if not exchange.write(head):
            return
        piece = bytes(64 * 1024)
        for _ in range(size // len(piece)):
            if exchange.server.closing.is_set() or not exchange.write(
                b"%x\r\n%s\r\n" % (len(piece), piece)
            ):
                return
        exchange.write(b"0\r\n\r\n")

    return handler


def _inflating_answer() -> bytes:
    # Valid JSON, a few KiB on the wire, past the answer cap once inflated.
    padding = " " * (MAX_ANSWER_BYTES + 1024)
    return gzip.compress(json.dumps({**PENDING, "padding": padding}).encode(), compresslevel=9)


@pytest.mark.parametrize(
    "attack",
    [
        "gzip-bomb",
        "announced",
        "chunked",
        "chunked-despite-a-length",
    ],
)
def test_an_answer_larger_than_the_cap_is_refused_however_it_comes(
    server: HostileServer, attack: str
) -> None:
    size = 4 * MAX_ANSWER_BYTES
    attacks = {
        "gzip-bomb": handlers.respond(
            200,
            _inflating_answer(),
            {"Content-Encoding": "gzip"},
            content_type="application/json",
        ),
        "announced": handlers.huge(size, content_type="application/json"),
        "chunked": handlers.huge(size, content_type="application/json", declare_length=False),
        "chunked-despite-a-length": _chunked_despite_its_length(size),
    }
    server.route("GET", POLL, attacks[attack])
    with client(server) as c, pytest.raises(ProtocolError) as caught:
        c.get_result("task-1")
    assert f"larger than {MAX_ANSWER_BYTES} bytes" in str(caught.value)
    assert caught.value.task_id == "task-1"
    if attack != "gzip-bomb":
        # Stopped at the announcement or near the cap, not after the whole body.
        assert server.bytes_sent(POLL) < 2 * MAX_ANSWER_BYTES


class _DripStream(httpx.SyncByteStream):
    """A body of ``size`` bytes, one every ``interval`` seconds."""

    def __init__(self, size: int, interval: float) -> None:
        self.size, self.interval = size, interval

    def __iter__(self) -> Iterator[bytes]:
        for _ in range(self.size):
            time.sleep(self.interval)
            yield b" "


def test_a_transport_without_capped_sockets_is_still_bounded_between_chunks() -> None:
    # A transport flux-flex cannot wrap (here a mock) gets no per-socket deadline, so even
    # an announced, uncompressed answer must stream through the sink, which checks the
    # deadline between chunks: the poll ends near its 0.3 s timeout, not after 10 s.
    def drip(request: httpx.Request) -> httpx.Response:
        headers = {"Content-Type": "application/json", "Content-Length": "100"}
        return httpx.Response(200, headers=headers, stream=_DripStream(100, 0.1))

    http = httpx.Client(transport=httpx.MockTransport(drip))
    mocked = FluxFlex(api_key=KEY, base_url="https://api.bfl.ai", http_client=http, timeout=0.3)
    with http, mocked.with_options(max_retries=0) as c:
        assert not c._driver.deadlines_enforced
        started = time.monotonic()
        with pytest.raises(APITimeoutError) as caught:
            c.get_result("task-1")
        elapsed = time.monotonic() - started
    assert caught.value.task_id == "task-1"
    assert elapsed < 0.3 + MARGIN
