"""The fake API as an ASGI application (Starlette), plus the layer that records and faults.

``build_app(service)`` returns the app. ``FakeService`` holds the behaviour; the outer
``RecordingFaultLayer`` records every request and applies injected faults before and after
the Starlette routes run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import random
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qsl, quote

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ._config import FakeConfig
from ._images import MAX_RENDER_PIXELS, image_size_of, render_sample
from ._pricing import credits, megapixels
from ._records import FakeTask, Fault, RecordedRequest, Registry, mask_body, mask_headers
from ._validation import FieldErrorDict, parse_json_body, validate_query, validate_submission
from ._webhooks import WebhookDispatcher

__all__ = ["DELIVERY_PREFIX", "FakeService", "build_app"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

SUBMIT_PATH = "/v1/flux-2-flex"
RESULT_PATH = "/v1/get_result"
DELIVERY_PREFIX = "/delivery"
_INPUT_IMAGE_FIELDS = ("input_image", *(f"input_image_{i}" for i in range(2, 9)))
_ASSUMED_INPUT_MP = 1.0  # an input image given by URL: the fake does not fetch it


class JSONAnswer(Response):
    """JSON with ASCII escapes: prompts may hold lone surrogates that UTF-8 cannot encode."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return json.dumps(content, separators=(",", ":"), allow_nan=False).encode("ascii")


def _detail(status: int, message: str, headers: dict[str, str] | None = None) -> JSONAnswer:
    return JSONAnswer({"detail": message}, status_code=status, headers=headers)


def _unprocessable(errors: list[FieldErrorDict]) -> JSONAnswer:
    return JSONAnswer({"detail": errors}, status_code=422)


class FakeService:
    """The behaviour of the fake API: tasks, results, samples, rate limit, webhooks."""

    def __init__(self, config: FakeConfig, registry: Registry) -> None:
        self.config = config
        self.registry = registry
        self.base_url: str | None = None
        self.closing = asyncio.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.transports: dict[tuple[str, int], asyncio.BaseTransport] = {}
        self.webhooks = WebhookDispatcher(config, registry, self.completion_payload)
        self._random = random.Random()

    # -- connections (a flux_flex._serving.ConnectionObserver) ----------------------------
    def opened(self, transport: asyncio.Transport) -> None:
        """Count an accepted connection and keep its transport (to drop it on purpose)."""
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            self.transports[(str(peer[0]), int(peer[1]))] = transport
        with self.registry.lock:
            self.registry.connections += 1

    def closed(self, transport: asyncio.Transport) -> None:
        """Forget a connection that ended."""
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            self.transports.pop((str(peer[0]), int(peer[1])), None)

    # -- URLs ----------------------------------------------------------------------------
    def _api_base(self, request: Request) -> str:
        if self.base_url is None:  # in-process ASGI use: learn the base from the first request
            self.base_url = str(request.base_url).rstrip("/")
        return self.base_url

    def polling_base(self, request: Request | None = None) -> str:
        """Where ``polling_url`` points (``polling_base_url`` or the fake itself)."""
        if self.config.polling_base_url:
            return self.config.polling_base_url.rstrip("/")
        return self._api_base(request) if request is not None else self.base_url or ""

    def delivery_base(self) -> str:
        """Where sample URLs point (``delivery_base_url`` or the fake itself)."""
        return (self.config.delivery_base_url or self.base_url or "").rstrip("/")

    def sample_url(self, task: FakeTask) -> str:
        """Absolute, key-less URL of the task's image."""
        path = f"{DELIVERY_PREFIX}/{task.sample_token}/sample.{task.output_format}"
        return self.delivery_base() + path

    # -- helpers ---------------------------------------------------------------------------
    def _auth_error(self, request: Request) -> JSONAnswer | None:
        given = request.headers.get("x-key")
        if not given:
            return _detail(401, "Not authenticated: send your API key in the x-key header.")
        if not secrets.compare_digest(
            given.encode("utf-8", "surrogateescape"),
            self.config.api_key.encode("utf-8", "surrogateescape"),
        ):
            return _detail(403, "Invalid API key.")
        return None

    def _outcome(self, prompt: str, width: int, height: int) -> tuple[str, str | None]:
        for marker, status in self.config.markers.items():
            if marker in prompt:
                return status, f"Prompt marker {marker!r} asks the fake for {status!r}."
        if width * height > MAX_RENDER_PIXELS:
            return "Error", (
                f"The fake renders at most {MAX_RENDER_PIXELS} pixels; "
                f"{width}x{height} is too large."
            )
        return "Ready", None

    def _rate_limited(self, now: float) -> JSONAnswer | None:
        in_flight = self.registry.in_flight(now)
        limit = self.config.max_in_flight
        if len(in_flight) < limit:
            return None
        if self.config.retry_after is not None:
            wait = f"{self.config.retry_after:g}"
        else:
            soonest = min((t.ready_at for t in in_flight), default=now)  # max_in_flight=0
            wait = str(max(1, math.ceil(soonest - now)))
        headers = {
            "Retry-After": wait,
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": wait,
        }
        message = f"Too many active tasks ({len(in_flight)} of {limit}); retry after {wait} s."
        return _detail(429, message, headers)

    def create_task(self, body: dict[str, Any], now: float) -> FakeTask:
        """Create and remember the task for a valid ``body``."""
        prompt: str = body["prompt"]
        inputs = [body[k] for k in _INPUT_IMAGE_FIELDS if isinstance(body.get(k), str)]
        sizes = [image_size_of(data) for data in inputs]
        width = body.get("width") or 0
        height = body.get("height") or 0
        if not width or not height:
            known = next((s for s in sizes if s is not None), None)
            default = known or self.config.default_size
            width, height = width or default[0], height or default[1]
        outcome, message = self._outcome(prompt, width, height)
        duration = 0.0 if outcome == "Request Moderated" else self.config.duration_for(body)
        seed = body.get("seed")
        if not isinstance(seed, int):
            seed = self._random.randrange(2**32)
        output_mp = megapixels(width, height)
        input_mps = [megapixels(*s) if s else _ASSUMED_INPUT_MP for s in sizes]
        ready_at = now + duration
        task = FakeTask(
            id=str(uuid.uuid4()),
            body=body,
            created_at=now,
            ready_at=ready_at,
            outcome=outcome,
            seed=seed,
            width=width,
            height=height,
            output_format=body.get("output_format") or "jpeg",
            input_mp=round(sum(input_mps), 2),
            output_mp=round(output_mp, 2),
            cost=credits(output_mp, input_mps),
            sample_token=secrets.token_urlsafe(16),
            sample_expires_at=ready_at + self.config.sample_ttl,
            message=message,
        )
        self.registry.add_task(task)
        return task

    def ready_result(self, task: FakeTask) -> dict[str, Any]:
        """``result`` of a Ready task."""
        return {
            "sample": self.sample_url(task),
            "prompt": task.body["prompt"],
            "seed": task.seed,
            "duration": round(task.duration, 3),
        }

    def completion_payload(self, task: FakeTask) -> dict[str, Any]:
        """The webhook body for a final task (FACTS.md shapes)."""
        if task.outcome == "Ready":
            return {
                "id": task.id,
                "status": "Ready",
                "result": self.ready_result(task),
                "timestamp": int(time.time()),
            }
        return {
            "id": task.id,
            "status": task.outcome,
            "error": task.outcome,
            "message": task.message or task.outcome,
            "timestamp": int(time.time()),
        }

    # -- endpoints -------------------------------------------------------------------------
    async def submit(self, request: Request) -> Response:
        """POST /v1/flux-2-flex."""
        self._api_base(request)
        if (denied := self._auth_error(request)) is not None:
            return denied
        raw = await request.body()
        content_type = request.headers.get("content-type", "application/json")
        media = content_type.split(";", 1)[0].strip().lower()
        if media != "application/json" and not media.endswith("+json"):
            return _unprocessable(
                [
                    {
                        "loc": ["body"],
                        "msg": f"Expected a JSON body (application/json), got {media!r}.",
                        "type": "model_attributes_type",
                    }
                ]
            )
        if not raw.strip():
            return _unprocessable([{"loc": ["body"], "msg": "Field required", "type": "missing"}])
        body, errors = parse_json_body(raw)
        if not errors:
            errors = validate_submission(body)
        if errors:
            return _unprocessable(errors)
        now = time.monotonic()
        if (limited := self._rate_limited(now)) is not None:
            return limited
        task = self.create_task(body, now)
        webhook_url = body.get("webhook_url")
        if webhook_url and self.config.deliver_webhooks:
            self.webhooks.schedule(task, webhook_url, body.get("webhook_secret"))
        answer: dict[str, Any] = {"id": task.id}
        if webhook_url and self.config.webhook_response_shape == "webhook":
            answer |= {"status": "Pending", "webhook_url": webhook_url}
        else:
            answer["polling_url"] = f"{self.polling_base(request)}{RESULT_PATH}?id={quote(task.id)}"
        answer |= {"cost": task.cost, "input_mp": task.input_mp, "output_mp": task.output_mp}
        return JSONAnswer(answer)

    async def get_result(self, request: Request) -> Response:
        """GET /v1/get_result?id=..."""
        self._api_base(request)
        if (denied := self._auth_error(request)) is not None:
            return denied
        if errors := validate_query(RESULT_PATH, "GET", request.query_params):
            return _unprocessable(errors)
        task_id = request.query_params["id"]
        with self.registry.lock:
            task = self.registry.tasks.get(task_id)
            if task is not None:
                task.polls += 1
        if task is None:
            return JSONAnswer({"id": task_id, "status": "Task not found", "result": None})
        now = time.monotonic()
        status = task.status_at(now)
        answer: dict[str, Any] = {"id": task.id, "status": status, "result": None}
        if status == "Pending":
            answer["progress"] = task.progress_at(now)
        elif status == "Ready":
            answer |= {"result": self.ready_result(task), "progress": 1.0}
        elif status in ("Request Moderated", "Content Moderated"):
            answer |= {"progress": None, "details": {"Moderation Reasons": [task.message]}}
        else:
            answer |= {"progress": None, "details": {"error": task.message}}
        return JSONAnswer(answer)

    async def sample(self, request: Request) -> Response:
        """GET /delivery/{token}/sample.{ext}: the image, no key needed, until it expires."""
        token = request.path_params["token"]
        with self.registry.lock:
            task_id = self.registry.by_token.get(token)
            task = self.registry.tasks.get(task_id) if task_id else None
        now = time.monotonic()
        if task is None or task.status_at(now) != "Ready":
            return Response("No such sample.", status_code=404, media_type="text/plain")
        if request.path_params["ext"] != task.output_format:
            return Response("No such sample.", status_code=404, media_type="text/plain")
        if now >= task.sample_expires_at:
            return Response(
                "Request has expired: sample URLs live for a limited time.",
                status_code=403,
                media_type="text/plain",
            )
        with self.registry.lock:
            task.downloads += 1
        data = await asyncio.to_thread(
            render_sample,
            task.body["prompt"],
            task.seed,
            task.width,
            task.height,
            task.output_format,
        )
        media = "image/png" if task.output_format == "png" else "image/jpeg"
        return Response(data, media_type=media)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return JSONAnswer({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


def build_app(service: FakeService) -> RecordingFaultLayer:
    """The complete ASGI app of the fake, around ``service``."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        service.loop = asyncio.get_running_loop()
        await service.webhooks.start()
        try:
            yield
        finally:
            await service.webhooks.close()

    routes = [
        Route(SUBMIT_PATH, service.submit, methods=["POST"]),
        Route(RESULT_PATH, service.get_result, methods=["GET"]),
        Route(DELIVERY_PREFIX + "/{token}/sample.{ext}", service.sample, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes, lifespan=lifespan, exception_handlers={HTTPException: _http_error}
    )
    return RecordingFaultLayer(app, service)


class RecordingFaultLayer:
    """ASGI layer: records each request, then answers it normally or through a fault."""

    def __init__(self, app: Starlette, service: FakeService) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        parsed: Any = None
        if body:
            try:
                parsed = mask_body(json.loads(body))
            except (ValueError, RecursionError):  # the endpoint answers 422 for these
                parsed = None
        client = scope.get("client")
        record = RecordedRequest(
            method=scope["method"],
            path=scope["path"],
            query=dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"))),
            headers=mask_headers(headers),
            body_size=len(body),
            json=parsed,
            client=(str(client[0]), int(client[1])) if client else None,
            at=time.monotonic(),
        )
        registry = self.service.registry
        registry.record(record)
        replay = _Replay(body, receive)

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                record.status = int(message["status"])
                if record.status == 429:
                    with registry.lock:
                        registry.rate_limited += 1
            await send(message)

        fault = registry.take_fault(scope["method"], scope["path"])
        if fault is None:
            await self.app(scope, replay, recording_send)
            return
        record.fault = fault.kind
        await self._apply(fault, scope, replay, recording_send)

    async def _apply(self, fault: Fault, scope: Scope, receive: Receive, send: Send) -> None:
        if fault.kind == "stall":
            # Ends early when the fake stops, so a long stall never delays shutdown.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.service.closing.wait(), fault.seconds)
            await self.app(scope, receive, send)
        elif fault.kind == "status":
            if fault.create_task:
                await _capture(self.app, scope, receive)
            await _send_fault_answer(send, fault)
        elif fault.kind == "drop":
            if fault.create_task:
                await _capture(self.app, scope, receive)
            await self._drop(scope)
        elif fault.kind == "malformed":
            status, headers, body = await _capture(self.app, scope, receive)
            if fault.malformed == "missing_id" and status == 200:
                answer = json.loads(body)
                answer.pop("id", None)
                body = json.dumps(answer).encode("ascii")
            else:
                status, body = 200, b'{"id": "3f2a-\x00 this is not JSON'
            await _send_raw(send, status, [(b"content-type", b"application/json")], body)
        elif fault.kind == "cut":
            status, headers, body = await _capture(self.app, scope, receive)
            await send({"type": "http.response.start", "status": status, "headers": headers})
            part = body[: max(1, int(len(body) * fault.fraction))] if body else b""
            await send({"type": "http.response.body", "body": part, "more_body": True})
            await self._drop(scope)

    async def _drop(self, scope: Scope) -> None:
        """Close the client's connection without (finishing) an answer."""
        client = scope.get("client")
        transport = self.service.transports.get((client[0], client[1])) if client else None
        if transport is None:
            raise ConnectionAbortedError("fault injection: connection dropped")
        if isinstance(transport, asyncio.WriteTransport):
            transport.abort()
        else:
            transport.close()
        for _ in range(3):  # let the server notice the disconnect before we return
            await asyncio.sleep(0)


class _Replay:
    """A ``receive`` that hands out the already-read body once, then defers to the server."""

    def __init__(self, body: bytes, receive: Receive) -> None:
        self._body: bytes | None = body
        self._receive = receive

    async def __call__(self) -> Message:
        if self._body is not None:
            body, self._body = self._body, None
            return {"type": "http.request", "body": body, "more_body": False}
        return await self._receive()


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _capture(app: Starlette, scope: Scope, receive: Receive) -> tuple[int, Any, bytes]:
    """Run ``app`` for the request, keeping its answer instead of sending it."""
    status = 500
    headers: Any = []
    chunks: list[bytes] = []

    async def keep(message: Message) -> None:
        nonlocal status, headers
        if message["type"] == "http.response.start":
            status, headers = int(message["status"]), message.get("headers", [])
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, keep)
    return status, headers, b"".join(chunks)


async def _send_raw(
    send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes
) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _send_fault_answer(send: Send, fault: Fault) -> None:
    if isinstance(fault.body, bytes):
        body, media = fault.body, b"application/octet-stream"
    elif isinstance(fault.body, str):
        body, media = fault.body.encode("utf-8"), b"text/plain; charset=utf-8"
    else:
        content = fault.body
        if content is None:
            content = {"detail": f"Injected fault: {fault.status}."}
        body, media = json.dumps(content).encode("ascii"), b"application/json"
    headers = [
        (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (fault.headers or {}).items()
    ]
    if not any(k == b"content-type" for k, _ in headers):
        headers.insert(0, (b"content-type", media))
    await _send_raw(send, fault.status, headers, body)
