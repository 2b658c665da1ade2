"""What the generated client puts on the wire, how its errors surface, and what it says
about itself (versions), through `flux_flex_api` alone."""

from __future__ import annotations

import asyncio
import importlib.metadata
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import flux_flex_api
import httpx
import pytest
from flux_flex.testing import FakeBFL
from flux_flex_api import AuthenticatedClient, errors
from flux_flex_api.api.generation import generate_flux_2_flex
from flux_flex_api.api.results import get_result
from flux_flex_api.models import Flux2FlexInputs, HTTPValidationError

from contract_tests.spec_tools import load_spec

from .conftest import KEY


class Recorder:
    """A stdlib HTTP server on 127.0.0.1 that keeps every request's raw header lines."""

    def __init__(self) -> None:
        self.headers: list[list[tuple[str, str]]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                recorder.headers.append(list(self.headers.items()))
                body = b'{"id": "t", "status": "Pending"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    rec = Recorder()
    thread = threading.Thread(target=rec.server.serve_forever, daemon=True)
    thread.start()
    yield rec
    rec.server.shutdown()
    rec.server.server_close()


@pytest.mark.parametrize("style", ["sync", "asyncio"])
def test_the_key_goes_in_x_key_and_nowhere_else(recorder: Recorder, style: str) -> None:
    client = AuthenticatedClient(base_url=recorder.url, token=KEY)
    if style == "sync":
        with client:
            get_result.sync(client=client, id="t")
    else:

        async def poll() -> None:
            async with client:
                await get_result.asyncio(client=client, id="t")

        asyncio.run(poll())
    (headers,) = recorder.headers
    carrying = [(name.lower(), value) for name, value in headers if KEY in value]
    assert carrying == [("x-key", KEY)]  # exactly, no "Bearer", no Authorization header
    assert "authorization" not in {name.lower() for name, _ in headers}


def test_the_key_stays_out_of_the_clients_repr(recorder: Recorder) -> None:
    client = AuthenticatedClient(base_url=recorder.url, token=KEY)
    with client:
        get_result.sync(client=client, id="t")  # the key now sits in the client's headers
        assert KEY not in repr(client)
        assert "x-key" in repr(client)  # the header's name, not its value


def test_a_refused_body_surfaces_as_the_parsed_422(fake: FakeBFL) -> None:
    with AuthenticatedClient(base_url=fake.base_url, token=KEY) as client:
        response = generate_flux_2_flex.sync_detailed(
            client=client, body=Flux2FlexInputs.from_dict({"prompt": "a fox", "steps": 500})
        )
    assert response.status_code == 422
    assert isinstance(response.parsed, HTTPValidationError)
    assert [error.loc for error in response.parsed.detail or []] == [["body", "steps"]]


def test_an_undocumented_status_is_none_or_unexpected_status(fake: FakeBFL) -> None:
    fake.fail_next("GET", "/v1/get_result", status=418, times=2)
    with AuthenticatedClient(base_url=fake.base_url, token=KEY) as client:
        response = get_result.sync_detailed(client=client, id="t")
    assert (response.status_code, response.parsed) == (418, None)
    strict = AuthenticatedClient(base_url=fake.base_url, token=KEY, raise_on_unexpected_status=True)
    with strict, pytest.raises(errors.UnexpectedStatus) as caught:
        get_result.sync(client=strict, id="t")
    assert caught.value.status_code == 418
    assert b"Injected fault" in caught.value.content


def test_transport_failures_are_httpx_errors(fake: FakeBFL) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    with (
        AuthenticatedClient(base_url=closed, token=KEY) as client,
        pytest.raises(httpx.ConnectError),
    ):
        get_result.sync(client=client, id="t")
    fake.stall_next("GET", "/v1/get_result", seconds=2.0)
    slow = AuthenticatedClient(base_url=fake.base_url, token=KEY, timeout=httpx.Timeout(0.2))
    with slow, pytest.raises(httpx.TimeoutException):
        get_result.sync(client=slow, id="t")


def test_the_package_says_which_spec_and_release_it_is() -> None:
    info = load_spec()["info"]
    assert info["version"] == flux_flex_api.SPEC_VERSION
    assert flux_flex_api.VENDOR_REVISION == info["x-vendor-revision"] == "2026-09"
    assert flux_flex_api.__version__ == importlib.metadata.version("flux-flex")
    assert {"SPEC_VERSION", "VENDOR_REVISION"} <= set(flux_flex_api.__all__)
    with pytest.raises(AttributeError, match="no attribute 'NOPE'"):
        _ = flux_flex_api.NOPE  # type: ignore[attr-defined]
