"""The reader's guarantees against servers written with the standard library (real sockets on
127.0.0.1, `tests.hostile`, not our fake): new statuses, echoed secrets, a cut-off
acknowledgement, a refused connection. Each test runs for `FluxFlex` and for `AsyncFluxFlex`."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from flux_flex import (
    APIConnectionError,
    FluxFlex,
    ProtocolError,
    ServerError,
    TaskFailedError,
)

from tests.clients import Flavour
from tests.hostile import POLL, SUBMIT, Exchange, HostileServer, handlers

from .conftest import FAST_RETRY, FAST_SCHEDULE

KEY = "sk-hostile-KEY-0123456789"
SECRET = "whsec-hostile-SECRET-42"


@pytest.fixture
def server() -> Iterator[HostileServer]:
    with HostileServer() as hostile:
        yield hostile


@pytest.fixture
def client(server: HostileServer, flavour: Flavour) -> FluxFlex:
    return flavour.client(
        api_key=KEY,
        base_url=server.url,
        poll_schedule=FAST_SCHEDULE,
        retry=FAST_RETRY,
        timeout=5,
    )


def test_a_lifecycle_with_a_status_nobody_knew_still_returns_the_image(
    server: HostileServer, client: FluxFlex, tmp_path: Path
) -> None:
    api = server.api()
    lifecycle = ["Pending", "Reasoning", "Generating", "Polishing"]
    ready = {
        "id": "task-1",
        "status": "Ready",
        "cost": 5.24,
        "result": {"sample": f"{server.url}/samples/task-1.png?signature=s", "seed": 3},
    }
    server.route(
        "GET",
        POLL,
        handlers.poll_answers(*({"id": "task-1", "status": s} for s in lifecycle), ready),
    )
    seen: list[str] = []
    result = client.generate(
        "fox", save_to=tmp_path / "fox.png", on_progress=lambda s: seen.append(s.status)
    )
    assert seen == [*lifecycle, "Ready"]
    assert (result.seed, result.cost) == (3, 5.24)
    assert Path(result.path or "").read_bytes() == api.sample
    assert server.requests_to("POST", SUBMIT)[0].json()["output_format"] == "png"
    assert server.created_tasks == ["task-1"]


def test_a_server_echoing_the_key_and_secret_it_received_leaks_neither(
    server: HostileServer, client: FluxFlex
) -> None:
    server.api()

    def failed(exchange: Exchange) -> dict[str, object]:
        key = exchange.request.headers.get("x-key", "")
        secret = server.requests_to("POST", SUBMIT)[0].json()["webhook_secret"]
        return {
            "id": "task-1",
            "status": "Error",
            "error": f"invalid key {key}",
            "message": f"secret {secret} and {json.dumps({'k': key})}",
            "details": {"received": {"x-key": key, "secret": secret}},
        }

    server.route("GET", POLL, handlers.json_body(failed))
    with pytest.raises(TaskFailedError) as caught:
        client.generate("fox", webhook_url="https://h.example/x", webhook_secret=SECRET)
    shown = f"{caught.value} {caught.value!r} {json.dumps(caught.value.payload)}"
    assert KEY not in shown
    assert SECRET not in shown
    assert server.requests_to("GET", POLL)[0].headers["x-key"] == KEY  # it did echo them


def test_error_headers_and_bodies_echoing_the_key_are_masked(
    server: HostileServer, client: FluxFlex
) -> None:
    def down(exchange: Exchange) -> None:
        key = exchange.request.headers.get("x-key", "")
        exchange.respond_json({"detail": f"down, key={key}"}, 503, {"X-Echo-Key": key})

    server.route("POST", SUBMIT, down)
    with pytest.raises(ServerError) as caught:
        client.submit("fox")
    assert server.count("POST", SUBMIT) == 1
    assert KEY not in f"{caught.value} {caught.value.body} {caught.value.headers}"
    assert caught.value.headers["x-echo-key"] == "***"


def test_a_cut_off_acknowledgement_names_the_task_and_is_not_resent(
    server: HostileServer, client: FluxFlex
) -> None:
    # Complete as HTTP (its Content-Length is honest), cut as JSON.
    server.route("POST", SUBMIT, handlers.raw_json('{"id": "abc-123", "polling_u'))
    with pytest.raises(ProtocolError) as caught:
        client.submit("fox")
    assert server.count("POST", SUBMIT) == 1
    assert (caught.value.task_id, caught.value.task_may_exist) == ("abc-123", True)
    assert "client.job('abc-123')" in str(caught.value)


def test_a_refused_connection_names_the_url_it_tried(flavour: Flavour) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens there now: every attempt is refused.
    c = flavour.client(api_key=KEY, base_url=f"http://127.0.0.1:{port}", retry=FAST_RETRY)
    with pytest.raises(APIConnectionError) as caught:
        c.get_result("t1")
    assert f"Could not connect to http://127.0.0.1:{port}/v1/get_result" in str(caught.value)
    assert "id=t1" not in str(caught.value)  # no query string
    assert KEY not in str(caught.value)
