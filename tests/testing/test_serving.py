"""flux_flex._serving: the one uvicorn-in-the-background helper (fake API and receiver)."""

from __future__ import annotations

import asyncio
import errno
import signal
import socket
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import httpx
import pytest
from flux_flex._serving import BackgroundServer, bind

Scope = MutableMapping[str, Any]


async def hello(scope: Scope, receive: Callable[[], Awaitable[Any]], send: Any) -> None:
    """A minimal ASGI app: 200 "hi" to every request, lifespan accepted."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"hi"})


def test_the_socket_is_bound_before_serving_and_port_0_picks_one() -> None:
    server = BackgroundServer(hello, what="the test app").bind()
    port = server.port
    try:
        assert port > 0
        # Connecting works before the thread starts: the connection waits in the backlog.
        early = socket.create_connection(("127.0.0.1", port), timeout=10)
        server.start()
        early.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := early.recv(4096):
            answer += chunk
        early.close()
        assert answer.startswith(b"HTTP/1.1 200")
        assert b"\r\nhi\r\n" in answer
    finally:
        server.stop()
    with pytest.raises(ConnectionRefusedError):  # stopped: the port no longer accepts
        socket.create_connection(("127.0.0.1", port), timeout=1)


def test_a_taken_port_is_a_clear_oserror_from_the_callers_thread() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match=rf"Cannot listen for things on 127\.0\.0\.1:{port}.*"):
            BackgroundServer(hello, port=port, what="things").start()
        with pytest.raises(OSError, match="in use") as caught:
            bind("127.0.0.1", port, what="things")
    assert caught.value.errno == errno.EADDRINUSE
    assert "Pick another port (0 picks a free one)" in str(caught.value)


def test_accepted_connections_get_tcp_nodelay_and_are_counted() -> None:
    opened: list[Any] = []
    closed: list[Any] = []

    class Observer:
        def opened(self, transport: asyncio.Transport) -> None:
            opened.append(transport)

        def closed(self, transport: asyncio.Transport) -> None:
            closed.append(transport)

    server = BackgroundServer(hello, observer=Observer()).start()
    try:
        for _ in range(3):  # three clients, three requests each on one keep-alive connection
            with httpx.Client(base_url=server.url) as client:
                assert [client.get("/").text for _ in range(3)] == ["hi"] * 3
    finally:
        server.stop()
    stats = server.connections
    assert (stats.accepted, stats.nodelay) == (3, 3)
    assert len(opened) == 3
    assert set(map(id, closed)) == set(map(id, opened))


def test_a_failed_startup_is_reported_and_frees_the_port() -> None:
    async def broken(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await receive()
            await send({"type": "lifespan.startup.failed", "message": "no database"})

    server = BackgroundServer(broken, lifespan="on", what="the broken app").bind()
    port = server.port
    with pytest.raises(RuntimeError, match="the broken app could not start"):
        server.start()
    assert not server.running
    bind("127.0.0.1", port, what="the port again").close()  # free again


def test_serving_in_the_loop_leaves_signal_handlers_alone() -> None:
    async def main() -> str:
        handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        server = await BackgroundServer(hello).astart()
        try:
            assert {sig: signal.getsignal(sig) for sig in handlers} == handlers
            async with httpx.AsyncClient(base_url=server.url) as client:
                return (await client.get("/")).text
        finally:
            await server.astop()
            assert {sig: signal.getsignal(sig) for sig in handlers} == handlers

    assert asyncio.run(main()) == "hi"


def test_a_server_runs_once_at_a_time() -> None:
    server = BackgroundServer(hello).start()
    try:
        with pytest.raises(RuntimeError, match="already running"):
            server.start()
    finally:
        server.stop()
    assert not server.running
