"""WebhookReceiver as an ASGI app: answers, deduplication, callbacks, limits, mounting."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import MutableMapping, Sequence
from typing import Any

import httpx
import pytest
from flux_flex.completion import CompletionSource
from flux_flex.errors import ConfigurationError
from flux_flex.webhooks import WebhookEvent, WebhookReceiver, sign
from starlette.applications import Starlette
from starlette.routing import Mount, Route

from .conftest import SECRET, body_of, echoed_headers, ready_payload, signed_headers

pytestmark = pytest.mark.anyio


def client_for(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hooks.test")


async def post(
    app: Any, payload: Any, headers: dict[str, str] | None = None, path: str = "/"
) -> httpx.Response:
    body = payload if isinstance(payload, bytes) else body_of(payload)
    async with client_for(app) as client:
        return await client.post(
            path, content=body, headers=signed_headers(body) if headers is None else headers
        )


async def call_asgi(
    app: Any,
    *,
    method: str = "POST",
    headers: Sequence[tuple[bytes, bytes]] = (),
    chunks: Sequence[bytes] | None = (b"",),
) -> tuple[int | None, dict[bytes, bytes], bytes, int]:
    """Drive the app by hand; ``chunks=None`` makes any read of the body fail the test.

    Returns status, response headers, response body, and how many chunks the app read.
    """
    scope = {
        "type": "http",
        "method": method,
        "path": "/",
        "root_path": "",
        "headers": list(headers),
    }
    pending = list(chunks) if chunks is not None else None
    reads = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal reads
        assert pending is not None, "the app read a body it should have refused unread"
        reads += 1
        if not pending:
            return {"type": "http.disconnect"}
        chunk = pending.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(pending)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    starts = [m for m in sent if m["type"] == "http.response.start"]
    status = starts[0]["status"] if starts else None
    response_headers = dict(starts[0]["headers"]) if starts else {}
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, response_headers, body, reads


async def test_authentic_delivery_is_accepted_and_recorded() -> None:
    receiver = WebhookReceiver(SECRET)
    response = await post(receiver, ready_payload("t-1"))
    assert response.status_code == 200
    assert response.json() == {"status": "accepted", "id": "t-1"}
    assert receiver.delivered("t-1") == ready_payload("t-1")
    assert isinstance(receiver.event("t-1"), WebhookEvent)
    assert receiver.stats.accepted == 1


async def test_echo_scheme_and_rotation() -> None:
    receiver = WebhookReceiver(["previous", SECRET])
    response = await post(receiver, ready_payload("t-2"), echoed_headers())
    assert response.status_code == 200
    assert (
        await post(receiver, ready_payload("t-3"), echoed_headers("previous"))
    ).status_code == 200


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing_signature"),
        ({"X-BFL-Signature": sign(b"other body", SECRET)}, "bad_signature"),
        ({"X-Webhook-Secret": "guess"}, "bad_secret"),
        ({"X-BFL-Signature": "sha256=nothex"}, "malformed_signature"),
    ],
)
async def test_forgeries_get_401_and_are_not_recorded(headers: dict[str, str], reason: str) -> None:
    calls: list[WebhookEvent] = []
    receiver = WebhookReceiver(SECRET, on_event=calls.append)
    response = await post(receiver, ready_payload("t-f"), headers)
    assert response.status_code == 401
    assert response.json() == {"error": reason}
    assert SECRET not in response.text
    assert receiver.delivered("t-f") is None
    assert receiver.stats.rejected == {reason: 1}
    await receiver.drain()
    assert calls == []


@pytest.mark.parametrize("body", [b"{not json", b"[]", b'{"id": "x", "status": "Ready"}'])
async def test_authentic_but_unusable_body_gets_400(body: bytes) -> None:
    receiver = WebhookReceiver(SECRET)
    response = await post(receiver, body, signed_headers(body))
    assert response.status_code == 400
    assert response.json()["error"] in ("bad_json", "bad_payload")


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "HEAD", "PATCH"])
async def test_other_methods_get_405_with_allow(method: str) -> None:
    async with client_for(WebhookReceiver(SECRET)) as client:
        response = await client.request(method, "/")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


async def test_duplicates_are_acknowledged_and_dropped() -> None:
    calls: list[str] = []
    receiver = WebhookReceiver(SECRET, on_event=lambda event: calls.append(event.id))
    first = await post(receiver, ready_payload("t-d"))
    retry = await post(receiver, {**ready_payload("t-d"), "timestamp": 99}, echoed_headers())
    assert (first.status_code, retry.status_code) == (200, 200)
    assert retry.json() == {"status": "duplicate", "id": "t-d"}
    await receiver.drain()
    assert calls == ["t-d"]
    assert receiver.delivered("t-d") == ready_payload("t-d")  # the first one is kept
    assert (receiver.stats.accepted, receiver.stats.duplicates) == (1, 1)


async def test_announced_oversized_body_is_refused_unread() -> None:
    receiver = WebhookReceiver(SECRET, max_body_bytes=100)
    status, headers, body, reads = await call_asgi(
        receiver, headers=[(b"content-length", b"101")], chunks=None
    )
    assert (status, reads) == (413, 0)
    assert json.loads(body) == {"error": "body_too_large"}
    assert headers[b"connection"] == b"close"


async def test_streamed_oversized_body_is_refused_without_reading_it_all() -> None:
    receiver = WebhookReceiver(SECRET, max_body_bytes=100)
    chunks = [b"x" * 60, b"x" * 60, b"x" * 60, b"x" * 60]
    status, _, _, reads = await call_asgi(receiver, chunks=chunks)  # no Content-Length
    assert (status, reads) == (413, 2)
    assert receiver.stats.rejected == {"body_too_large": 1}


async def test_body_at_the_limit_is_read_in_chunks_and_accepted() -> None:
    body = body_of(ready_payload("t-c"))
    receiver = WebhookReceiver(SECRET, max_body_bytes=len(body))
    pieces = [body[:10], body[10:50], body[50:]]
    headers = [(b"x-bfl-signature", sign(body, SECRET).encode())]
    status, _, _, reads = await call_asgi(receiver, headers=headers, chunks=pieces)
    assert (status, reads) == (200, 3)


@pytest.mark.parametrize("length", [b"abc", b"-1", b"1e3"])
async def test_unreadable_content_length_gets_400(length: bytes) -> None:
    status, _, _, _ = await call_asgi(
        WebhookReceiver(SECRET), headers=[(b"content-length", length)]
    )
    assert status == 400


async def test_sender_hanging_up_mid_body_gets_no_answer_and_nothing_is_recorded() -> None:
    receiver = WebhookReceiver(SECRET)
    scope = {"type": "http", "method": "POST", "path": "/", "headers": []}
    messages = iter(
        [{"type": "http.request", "body": b"{", "more_body": True}, {"type": "http.disconnect"}]
    )
    sent: list[Any] = []

    async def receive() -> Any:
        return next(messages)

    async def send(message: Any) -> None:
        sent.append(message)

    await receiver(scope, receive, send)
    assert sent == []


async def test_sync_callback_runs_without_making_the_sender_wait() -> None:
    release, ran = threading.Event(), threading.Event()
    seen: list[WebhookEvent] = []

    def slow_callback(event: WebhookEvent) -> None:
        assert release.wait(timeout=30)
        seen.append(event)
        ran.set()

    receiver = WebhookReceiver(SECRET, on_event=slow_callback)
    response = await post(receiver, ready_payload("t-s"))
    assert response.status_code == 200  # answered while the callback is still blocked
    assert not ran.is_set()
    release.set()
    await receiver.drain()
    assert [event.id for event in seen] == ["t-s"]


async def test_async_callback_runs_as_a_task_without_making_the_sender_wait() -> None:
    release = asyncio.Event()
    seen: list[str] = []

    async def slow_callback(event: WebhookEvent) -> None:
        # (bounded, so that a receiver awaiting its callback fails this test, not hangs it)
        await asyncio.wait_for(release.wait(), timeout=30)
        seen.append(event.id)

    receiver = WebhookReceiver(SECRET, on_event=slow_callback)
    response = await post(receiver, ready_payload("t-a"))
    assert response.status_code == 200
    assert seen == []
    release.set()
    await receiver.drain()
    assert seen == ["t-a"]


async def test_async_callable_object_is_awaited() -> None:
    class Handler:
        def __init__(self) -> None:
            self.ids: list[str] = []

        async def __call__(self, event: WebhookEvent) -> None:
            self.ids.append(event.id)

    handler = Handler()
    receiver = WebhookReceiver(SECRET, on_event=handler)
    await post(receiver, ready_payload("t-o"))
    await receiver.drain()
    assert handler.ids == ["t-o"]


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_callback_exceptions_are_logged_never_sent_back(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(event: WebhookEvent) -> None:
        raise RuntimeError("handler bug")

    async def broken_async(event: WebhookEvent) -> None:
        raise RuntimeError("handler bug")

    receiver = WebhookReceiver(SECRET, on_event=broken if kind == "sync" else broken_async)
    with caplog.at_level(logging.ERROR, logger="flux_flex.webhooks"):
        response = await post(receiver, ready_payload("t-x"))
        await receiver.drain()
    assert response.status_code == 200
    assert receiver.stats.callback_errors == 1
    assert receiver.delivered("t-x") is not None
    assert any("t-x" in record.getMessage() and record.exc_info for record in caplog.records)


async def test_same_loop_waiter_is_woken_by_a_delivery() -> None:
    receiver = WebhookReceiver(SECRET)
    waiter = asyncio.create_task(receiver.wait_delivered_async("t-w", timeout=30))
    await asyncio.sleep(0)
    await post(receiver, ready_payload("t-w"))
    for _ in range(5):  # woken at once, long before its 30 s safety timeout
        await asyncio.sleep(0)
    assert waiter.done()
    assert await waiter == ready_payload("t-w")


async def test_is_a_completion_source_and_hides_its_secret() -> None:
    receiver = WebhookReceiver(SECRET)
    assert isinstance(receiver, CompletionSource)
    assert SECRET not in repr(receiver)
    assert receiver.wait_delivered("none", timeout=0) is None


@pytest.mark.parametrize("secret", ["", [], [""]])
async def test_receiver_needs_a_secret(secret: Any) -> None:
    with pytest.raises(ConfigurationError):
        WebhookReceiver(secret)


async def test_mounted_in_starlette_under_mount_and_route() -> None:
    receiver = WebhookReceiver(SECRET)

    async def health(request: Any) -> Any:
        from starlette.responses import PlainTextResponse

        return PlainTextResponse("ok")

    app = Starlette(
        routes=[
            Route("/health", health),
            Mount("/hooks", app=receiver),
            Route("/bfl-webhook", receiver, methods=["POST"]),
        ]
    )
    assert (await post(app, ready_payload("m-1"), path="/hooks/")).status_code == 200
    assert (await post(app, ready_payload("m-2"), path="/bfl-webhook")).status_code == 200
    forged = await post(app, ready_payload("m-3"), {"X-Webhook-Secret": "nope"}, path="/hooks/")
    assert forged.status_code == 401
    assert {receiver.delivered(t) is not None for t in ("m-1", "m-2")} == {True}
    async with client_for(app) as client:
        assert (await client.get("/health")).text == "ok"


async def test_lifespan_is_supported_and_shutdown_drains_callbacks() -> None:
    done = asyncio.Event()

    async def callback(event: WebhookEvent) -> None:
        await asyncio.sleep(0.01)
        done.set()

    receiver = WebhookReceiver(SECRET, on_event=callback)
    await post(receiver, ready_payload("t-l"))
    inbox: asyncio.Queue[MutableMapping[str, Any]] = asyncio.Queue()
    outbox: list[dict[str, Any]] = []
    for message in ("lifespan.startup", "lifespan.shutdown"):
        inbox.put_nowait({"type": message})

    async def send(message: MutableMapping[str, Any]) -> None:
        outbox.append(dict(message))

    await receiver({"type": "lifespan"}, inbox.get, send)
    assert [m["type"] for m in outbox] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]
    assert done.is_set()
