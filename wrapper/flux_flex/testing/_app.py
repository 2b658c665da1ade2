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
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, MutableMapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, quote

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from flux_flex._core import pricing

from ._config import FakeConfig
from ._images import MAX_RENDER_PIXELS, MEDIA_TYPES, image_size_of, render_sample
from ._lifecycle import timeline
from ._records import FakeTask, Fault, RecordedRequest, Registry, mask_body, mask_headers
from ._validation import FieldErrorDict, parse_json_body, validate_query, validate_submission
from ._webhooks import WebhookDispatcher

__all__ = ["DELIVERY_PREFIX", "ERROR_CODES", "FakeService", "build_app", "error_body"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

SUBMIT_PATH = "/v1/flux-2-flex"
RESULT_PATH = "/v1/get_result"
CREDITS_PATH = "/v1/credits"
DELIVERY_PREFIX = "/delivery"
_INPUT_IMAGE_FIELDS = ("input_image", *(f"input_image_{i}" for i in range(2, 9)))

# The guide's error codes for the `{"error", "message", "details"}` shape, by HTTP status.
ERROR_CODES = {
    400: "bad_request",
    401: "invalid_api_key",
    402: "insufficient_credits",
    403: "invalid_api_key",
    404: "not_found",
    405: "method_not_allowed",
    429: "rate_limit_exceeded",
}


class JSONAnswer(Response):
    """JSON with ASCII escapes: prompts may hold lone surrogates that UTF-8 cannot encode."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return json.dumps(content, separators=(",", ":"), allow_nan=False).encode("ascii")


def error_body(
    shape: str, status: int, message: str, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A non-422 error body in the selected shape: FastAPI's ``{"detail": message}`` or the
    guide's ``{"error": code, "message": message, "details": {...}}``."""
    if shape == "error":
        code = ERROR_CODES.get(status, "server_error" if status >= 500 else "error")
        return {"error": code, "message": message, "details": details or {}}
    return {"detail": message}


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

    def error(
        self,
        status: int,
        message: str,
        details: dict[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> JSONAnswer:
        """A non-422 error answer in the configured ``error_shape``."""
        body = error_body(self.config.error_shape, status, message, details)
        return JSONAnswer(body, status_code=status, headers=headers)

    @property
    def balance(self) -> float:
        """Credits left: the configured balance minus what submissions were charged."""
        return self.registry.left(self.config.balance)

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
            return self.error(
                401,
                "Not authenticated: send your API key in the x-key header.",
                {"header": "x-key"},
            )
        if not secrets.compare_digest(
            given.encode("utf-8", "surrogateescape"),
            self.config.api_key.encode("utf-8", "surrogateescape"),
        ):
            return self.error(403, "Invalid API key.", {"header": "x-key"})
        return None

    def _rate_limited(self, now: float) -> JSONAnswer | None:
        in_flight = self.registry.in_flight(now)
        limit = self.config.max_in_flight
        if len(in_flight) < limit:
            return None
        if self.config.retry_after is not None:
            wait = f"{self.config.retry_after:g}"
        else:
            soonest = min((t.ready_at for t in in_flight), default=now)  # max_in_flight=0
            # A task that never finishes (a script ending in a running status): an hour.
            wait = str(max(1, math.ceil(min(soonest - now, 3600.0))))
        headers = {
            "Retry-After": wait,
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": wait,
        }
        message = f"Too many active tasks ({len(in_flight)} of {limit}); retry after {wait} s."
        details = {"limit": limit, "active": len(in_flight), "retry_after": wait}
        return self.error(429, message, details, headers)

    def plan_task(self, body: dict[str, Any], now: float) -> FakeTask:
        """The task a valid ``body`` would create (priced, timed), not yet remembered.

        Pricing is ``flux_flex._core.pricing``'s. Input images given as base64 are counted
        by their real size (read from their header); one given by URL cannot be fetched
        offline and counts as ``pricing.UNKNOWN_INPUT_MP``.
        """
        inputs = [body[k] for k in _INPUT_IMAGE_FIELDS if isinstance(body.get(k), str)]
        sizes = [image_size_of(data) for data in inputs]
        # The size left to the model: the same rule as the client's estimates.
        width, height, _ = pricing.output_size(
            body.get("width"), body.get("height"), sizes, self.config.default_size
        )
        plan = timeline(self.config, body, now)
        outcome, message = plan.outcome, None
        if plan.marker is not None:
            message = f"Prompt marker {plan.marker!r} asks the fake for {outcome!r}."
        if outcome == "Ready" and width * height > MAX_RENDER_PIXELS:
            outcome = "Error"
            message = (
                f"The fake renders at most {MAX_RENDER_PIXELS} pixels; "
                f"{width}x{height} is too large."
            )
        seed = body.get("seed")
        if not isinstance(seed, int):
            seed = self._random.randrange(2**32)
        price = pricing.estimate(width, height, sizes)
        return FakeTask(
            id=str(uuid.uuid4()),
            body=body,
            created_at=now,
            ready_at=plan.ready_at,
            outcome=outcome,
            seed=seed,
            width=width,
            height=height,
            output_format=body.get("output_format") or "jpeg",
            input_mp=price.input_mp,
            output_mp=price.output_mp,
            cost=price.credits,
            sample_token=secrets.token_urlsafe(16),
            sample_expires_at=plan.ready_at + self.config.sample_ttl,
            message=message,
            phases=plan.phases,
        )

    def ready_result(self, task: FakeTask) -> dict[str, Any]:
        """``result`` of a Ready task."""
        return {
            "sample": self.sample_url(task),
            "prompt": task.body["prompt"],
            "seed": task.seed,
            "duration": round(task.duration, 3),
        }

    def completion_payload(self, task: FakeTask) -> dict[str, Any]:
        """The webhook body for a final task, as the vendor's guide shows it: an ISO 8601
        UTC ``timestamp``; on failure an ``error`` code and a ``message``."""
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if task.outcome == "Ready":
            return {
                "id": task.id,
                "status": "Ready",
                "result": self.ready_result(task),
                "timestamp": stamp,
            }
        return {
            "id": task.id,
            "status": task.outcome,
            "error": failure_code(task.outcome),
            "message": task.message or f"The task ended with status {task.outcome!r}.",
            "timestamp": stamp,
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
            errors = validate_submission(body, strict_dimensions=self.config.strict_dimensions)
        if errors:
            return _unprocessable(errors)
        now = time.monotonic()
        if (limited := self._rate_limited(now)) is not None:
            return limited
        task = self.plan_task(body, now)
        if not self.registry.charge(task.cost, self.config.balance):
            balance = self.balance
            return self.error(
                402,
                f"Insufficient credits: this task costs {pricing.format_credits(task.cost)} "
                f"credits and the balance is {pricing.format_credits(balance)}. Add credits "
                "and submit again.",
                {"required": task.cost, "available": balance},
            )
        self.registry.add_task(task)
        webhook_url = body.get("webhook_url")
        if webhook_url and self.config.deliver_webhooks and task.final:
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
        return JSONAnswer(self.poll_answer(task, time.monotonic()))

    def poll_answer(self, task: FakeTask, now: float) -> dict[str, Any]:
        """What a poll of ``task`` answers at ``now`` (see ``progress`` and ``cost_on_poll``)."""
        status = task.status_at(now)
        final = status == task.outcome and now >= task.ready_at
        answer: dict[str, Any] = {"id": task.id, "status": status, "result": None}
        progress: float | None = None
        if not final:
            progress = task.progress_at(now)
        elif status == "Ready":
            answer["result"] = self.ready_result(task)
            progress = 1.0
        elif status in ("Request Moderated", "Content Moderated"):
            answer["details"] = {"Moderation Reasons": [task.message or status]}
        else:
            answer["details"] = {"error": task.message or status}
        mode = self.config.progress
        if mode == "fraction":
            answer["progress"] = progress
        elif mode == "null":
            answer["progress"] = None
        cost_on_poll = self.config.cost_on_poll
        if cost_on_poll == "always" or (cost_on_poll == "ready" and final and status == "Ready"):
            answer["cost"] = task.cost
        return answer

    async def credits(self, request: Request) -> Response:
        """GET /v1/credits: the account's balance."""
        self._api_base(request)
        if (denied := self._auth_error(request)) is not None:
            return denied
        return JSONAnswer({"credits": self.balance})

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
        return Response(data, media_type=MEDIA_TYPES.get(task.output_format, "image/jpeg"))


def failure_code(status: str) -> str:
    """The webhook ``error`` code of a failed task (the guide's codes where it has one)."""
    if status in ("Content Moderated", "Request Moderated"):
        return "content_policy_violation"
    if status == "Error":
        return "generation_failed"
    return "_".join(status.lower().split())


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

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return service.error(exc.status_code, str(exc.detail), headers=exc.headers)

    routes = [
        Route(SUBMIT_PATH, service.submit, methods=["POST"]),
        Route(RESULT_PATH, service.get_result, methods=["GET"]),
        Route(CREDITS_PATH, service.credits, methods=["GET"]),
        Route(DELIVERY_PREFIX + "/{token}/sample.{ext}", service.sample, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes, lifespan=lifespan, exception_handlers={HTTPException: http_error}
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
            await _send_fault_answer(send, fault, self.service.config.error_shape)
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


async def _send_fault_answer(send: Send, fault: Fault, shape: str) -> None:
    if isinstance(fault.body, bytes):
        body, media = fault.body, b"application/octet-stream"
    elif isinstance(fault.body, str):
        body, media = fault.body.encode("utf-8"), b"text/plain; charset=utf-8"
    else:
        content = fault.body
        if content is None:
            content = error_body(shape, fault.status, f"Injected fault: {fault.status}.")
        body, media = json.dumps(content).encode("ascii"), b"application/json"
    headers = [
        (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (fault.headers or {}).items()
    ]
    if not any(k == b"content-type" for k, _ in headers):
        headers.insert(0, (b"content-type", media))
    await _send_raw(send, fault.status, headers, body)
