"""The reader's guarantees against servers written with the standard library (real sockets on
127.0.0.1, not our fake): new statuses, echoed secrets, a cut-off acknowledgement, a refused
connection."""

from __future__ import annotations

import io
import json
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from flux_flex import (
    APIConnectionError,
    FluxFlex,
    ProtocolError,
    ServerError,
    TaskFailedError,
)
from PIL import Image

from .conftest import FAST_RETRY, FAST_SCHEDULE

KEY = "sk-hostile-KEY-0123456789"
SECRET = "whsec-hostile-SECRET-42"

Handler = Callable[[BaseHTTPRequestHandler, dict[str, Any]], None]


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(buffer, format="PNG")
    return buffer.getvalue()


class Server:
    """A ThreadingHTTPServer whose answers are one function; it counts what it received."""

    def __init__(self, answer: Handler) -> None:
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self.state: dict[str, Any] = {}
        server = self

        class Handle(BaseHTTPRequestHandler):
            def _any(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                server.requests.append((self.command, self.path, dict(self.headers), body))
                answer(self, server.state | {"body": body})

            do_GET = do_POST = _any

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handle)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def count(self, method: str, path: str) -> int:
        return sum(1 for m, p, _, _ in self.requests if m == method and p.startswith(path))


def send_json(handler: BaseHTTPRequestHandler, status: int, payload: Any, **headers: str) -> None:
    data = json.dumps(payload).encode()
    handler.send_response(status)
    handler.send_header("content-type", "application/json")
    handler.send_header("content-length", str(len(data)))
    for name, value in headers.items():
        handler.send_header(name.replace("_", "-"), value)
    handler.end_headers()
    handler.wfile.write(data)


@pytest.fixture
def client_for() -> Iterator[Callable[[Server], FluxFlex]]:
    made: list[FluxFlex] = []

    def make(server: Server) -> FluxFlex:
        client = FluxFlex(
            api_key=KEY,
            base_url=server.base_url,
            poll_schedule=FAST_SCHEDULE,
            retry=FAST_RETRY,
            timeout=5,
        )
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def test_a_lifecycle_with_a_status_nobody_knew_still_returns_the_image(
    client_for: Callable[[Server], FluxFlex], tmp_path: Path
) -> None:
    lifecycle = ["Pending", "Reasoning", "Generating", "Polishing", "Ready"]
    image = png()

    def answer(h: BaseHTTPRequestHandler, state: dict[str, Any]) -> None:
        base = f"http://{h.headers['host']}"
        if h.command == "POST":
            send_json(h, 200, {"id": "t1", "polling_url": f"{base}/v1/get_result?id=t1"})
        elif h.path.startswith("/v1/get_result"):
            polls = server.count("GET", "/v1/get_result")
            status = lifecycle[min(polls, len(lifecycle)) - 1]
            body: dict[str, Any] = {"id": "t1", "status": status, "progress": polls / 5}
            if status == "Ready":
                body |= {"cost": 5.24, "result": {"sample": f"{base}/sample.png", "seed": 3}}
            send_json(h, 200, body)
        else:
            h.send_response(200)
            h.send_header("content-length", str(len(image)))
            h.end_headers()
            h.wfile.write(image)

    with Server(answer) as server:
        seen: list[str] = []
        result = client_for(server).generate(
            "fox", save_to=tmp_path / "fox.png", on_progress=lambda s: seen.append(s.status)
        )
    assert seen == lifecycle
    assert (result.seed, result.cost) == (3, 5.24)
    assert Path(result.path or "").read_bytes() == image
    assert json.loads(server.requests[0][3])["output_format"] == "png"


def test_a_server_echoing_the_key_and_secret_it_received_leaks_neither(
    client_for: Callable[[Server], FluxFlex],
) -> None:
    def answer(h: BaseHTTPRequestHandler, state: dict[str, Any]) -> None:
        key = h.headers.get("x-key", "")
        if h.command == "POST":
            state_secret = json.loads(state["body"])["webhook_secret"]
            server.state["secret"] = state_secret
            send_json(
                h, 200, {"id": "t1", "status": "Pending", "webhook_url": "https://h.example/x"}
            )
            return
        secret = server.state["secret"]
        send_json(
            h,
            200,
            {
                "id": "t1",
                "status": "Error",
                "error": f"invalid key {key}",
                "message": f"secret {secret} and {json.dumps({'k': key})}",
                "details": {"received": {"x-key": key, "secret": secret}},
            },
        )

    with Server(answer) as server, pytest.raises(TaskFailedError) as caught:
        client_for(server).generate("fox", webhook_url="https://h.example/x", webhook_secret=SECRET)
    shown = f"{caught.value} {caught.value!r} {json.dumps(caught.value.payload)}"
    assert KEY not in shown
    assert SECRET not in shown
    assert server.requests[1][2]["x-key"] == KEY  # it did receive (and echo) them


def test_error_headers_and_bodies_echoing_the_key_are_masked(
    client_for: Callable[[Server], FluxFlex],
) -> None:
    def answer(h: BaseHTTPRequestHandler, state: dict[str, Any]) -> None:
        key = h.headers.get("x-key", "")
        send_json(h, 503, {"detail": f"down, key={key}"}, x_echo_key=key)

    with Server(answer) as server, pytest.raises(ServerError) as caught:
        client_for(server).submit("fox")
    assert server.count("POST", "/v1/flux-2-flex") == 1
    assert KEY not in f"{caught.value} {caught.value.body} {caught.value.headers}"
    assert caught.value.headers["x-echo-key"] == "***"


def test_a_cut_off_acknowledgement_names_the_task_and_is_not_resent(
    client_for: Callable[[Server], FluxFlex],
) -> None:
    def answer(h: BaseHTTPRequestHandler, state: dict[str, Any]) -> None:
        # Complete as HTTP (the connection closes), cut as JSON.
        h.send_response(200)
        h.send_header("content-type", "application/json")
        h.send_header("connection", "close")
        h.end_headers()
        h.wfile.write(b'{"id": "abc-123", "polling_u')
        h.close_connection = True

    with Server(answer) as server, pytest.raises(ProtocolError) as caught:
        client_for(server).submit("fox")
    assert server.count("POST", "/v1/flux-2-flex") == 1
    assert (caught.value.task_id, caught.value.task_may_exist) == ("abc-123", True)
    assert "client.job('abc-123')" in str(caught.value)


def test_a_refused_connection_names_the_url_it_tried() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens there now: every attempt is refused.
    with (
        FluxFlex(api_key=KEY, base_url=f"http://127.0.0.1:{port}", retry=FAST_RETRY) as client,
        pytest.raises(APIConnectionError) as caught,
    ):
        client.get_result("t1")
    assert f"http://127.0.0.1:{port}/v1/get_result" in str(caught.value)
    assert "id=t1" not in str(caught.value)  # no query string
    assert KEY not in str(caught.value)
