"""ReceiverServer (uvicorn in a thread or in the loop) and listen(), over real sockets."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from flux_flex.webhooks import ReceiverServer, WebhookEvent, WebhookReceiver, listen
from flux_flex.webhooks.server import make_listener_callback

from .conftest import SECRET, body_of, echoed_headers, ready_payload, signed_headers


def test_threaded_server_receives_real_deliveries() -> None:
    seen: list[str] = []
    receiver = WebhookReceiver(SECRET, on_event=lambda event: seen.append(event.id))
    with ReceiverServer(receiver) as server:
        assert server.url.startswith("http://127.0.0.1:")
        body = body_of(ready_payload("s-1"))
        with httpx.Client() as client:
            good = client.post(server.url, content=body, headers=signed_headers(body))
            forged = client.post(server.url, content=body, headers=echoed_headers("nope"))
            wrong_method = client.get(server.url)
        assert (good.status_code, forged.status_code, wrong_method.status_code) == (200, 401, 405)
        # A waiting thread (like job.wait) gets the payload the server thread recorded.
        assert receiver.wait_delivered("s-1", timeout=10) == ready_payload("s-1")
    assert seen == ["s-1"]  # the shutdown drained the callback
    with pytest.raises(RuntimeError, match="not started"):
        _ = server.port


def test_keep_alive_connections_are_reused_and_have_tcp_nodelay() -> None:
    # Without TCP_NODELAY on the accepted socket every answer on a kept-alive connection
    # waits for the sender's delayed ACK (~40 ms): the receiver's speed problem of issue 14.
    receiver = WebhookReceiver(SECRET)
    with ReceiverServer(receiver) as server:
        clients = [httpx.Client() for _ in range(4)]
        try:
            for round_ in range(5):
                for index, client in enumerate(clients):
                    body = body_of(ready_payload(f"k-{round_}-{index}"))
                    answer = client.post(server.url, content=body, headers=signed_headers(body))
                    assert answer.status_code == 200
        finally:
            for client in clients:
                client.close()
        stats = server.connections
    assert (stats.accepted, stats.nodelay) == (4, 4)
    assert receiver.stats.accepted == 20


# Runs in a fresh interpreter where Pillow, jsonschema and Starlette cannot be imported
# (the `webhooks` extra installs only uvicorn), and reports every attempt to import them.
_BLOCKER = textwrap.dedent(
    """
    import importlib.abc, sys

    ATTEMPTS = []

    class Blocker(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("PIL", "jsonschema", "starlette"):
                ATTEMPTS.append(name)
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, Blocker())
    """
)


def test_receiver_server_needs_neither_pillow_jsonschema_nor_starlette() -> None:
    script = _BLOCKER + textwrap.dedent(
        f"""
        import json
        import httpx
        from flux_flex.webhooks import ReceiverServer, WebhookReceiver, sign

        receiver = WebhookReceiver({SECRET!r})
        with ReceiverServer(receiver) as server:
            body = json.dumps({{"id": "x-1", "status": "Ready",
                               "result": {{"sample": "https://d/x.png"}}}}).encode()
            answer = httpx.post(server.url, content=body,
                                headers={{"X-BFL-Signature": sign(body, {SECRET!r})}})
            assert answer.status_code == 200, answer.text
            assert receiver.delivered("x-1") is not None
        print("attempts:", ATTEMPTS)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "attempts: []"


def test_real_oversized_bodies_get_413_announced_or_chunked() -> None:
    receiver = WebhookReceiver(SECRET, max_body_bytes=1000)

    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer encoding
        for _ in range(50):
            yield b"x" * 100

    with ReceiverServer(receiver) as server, httpx.Client() as client:
        announced = client.post(server.url, content=b"x" * 1001, headers=echoed_headers())
        streamed = client.post(server.url, content=chunks(), headers=echoed_headers())
    assert (announced.status_code, streamed.status_code) == (413, 413)
    assert receiver.stats.rejected == {"body_too_large": 2}


def test_server_reports_a_port_that_is_taken() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with (
            pytest.raises(OSError, match="in use"),
            ReceiverServer(WebhookReceiver(SECRET), port=port),
        ):
            pass


@pytest.mark.anyio
async def test_in_loop_server_and_same_loop_waiter() -> None:
    receiver = WebhookReceiver(SECRET)
    handler = signal.getsignal(signal.SIGINT)
    async with ReceiverServer(receiver) as server, httpx.AsyncClient() as client:
        assert signal.getsignal(signal.SIGINT) is handler  # the host program keeps Ctrl+C
        waiter = receiver.wait_delivered_async("s-2", timeout=10)
        body = body_of(ready_payload("s-2"))
        response = await client.post(server.url, content=body, headers=signed_headers(body))
        assert response.status_code == 200
        assert await waiter == ready_payload("s-2")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_listener_callback_echoes_json_lines_or_saves_files(tmp_path: Path) -> None:
    lines: list[str] = []
    event = WebhookEvent.from_payload(ready_payload("abc-123"))
    make_listener_callback(None, lines.append)(event)
    assert json.loads(lines[0]) == ready_payload("abc-123")

    saved: list[str] = []
    save = make_listener_callback(tmp_path / "events", saved.append)
    save(event)
    hostile = WebhookEvent.from_payload({"id": "../../etc/passwd", "status": "Error"})
    save(hostile)
    files = sorted(p.name for p in (tmp_path / "events").iterdir())
    assert "abc-123.json" in files
    assert len(files) == 2  # the hostile id became a safe name inside the directory
    assert all(not name.startswith(".") for name in files)  # no temp files left behind
    assert json.loads((tmp_path / "events" / "abc-123.json").read_text()) == ready_payload(
        "abc-123"
    )
    assert saved[0].startswith("abc-123 Ready -> ")


def test_listen_serves_until_interrupted(tmp_path: Path) -> None:
    code = (
        "import sys; from flux_flex.webhooks import listen; "
        f"listen('127.0.0.1', 0, secrets=[{SECRET!r}], save_dir=sys.argv[1], "
        "echo=lambda line: print(line, flush=True))"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        found = re.search(r"Listening for webhook deliveries on (http://127\.0\.0\.1:\d+/)", banner)
        assert found, banner
        url = found.group(1)
        body = body_of(ready_payload("l-1"))
        # The socket is bound before the banner: connections wait in its backlog until
        # uvicorn accepts them (generous timeout for a busy machine, not a speed check).
        with httpx.Client(timeout=30) as client:
            response = client.post(url, content=body, headers=signed_headers(body))
            assert response.status_code == 200
            assert client.post(url, content=body, headers=echoed_headers("x")).status_code == 401
        line = _read_line(process, timeout=20)
        assert line.startswith("l-1 Ready -> ")
        assert json.loads((tmp_path / "l-1.json").read_text()) == ready_payload("l-1")
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert process.returncode == 0


def test_listen_on_a_taken_port_says_so_before_serving() -> None:
    lines: list[str] = []
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match=f"Cannot listen for webhooks on 127.0.0.1:{port}"):
            listen("127.0.0.1", port, secrets=SECRET, echo=lines.append)
    assert lines == []


def _read_line(process: subprocess.Popen[str], timeout: float) -> str:
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(process.stdout.readline()))  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout)
    assert lines, "listen() echoed nothing for a verified delivery"
    return lines[0].strip()
