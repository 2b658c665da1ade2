"""``FakeBFL``: the fake API in a real uvicorn server on 127.0.0.1, and blocking ``serve()``."""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from flux_flex._closing import Closing
from flux_flex._core.pricing import DEFAULT_OUTPUT_SIZE, format_credits
from flux_flex._serving import BackgroundServer, wait_until_interrupted

from ._config import (
    DEFAULT_BALANCE,
    DEFAULT_LIFECYCLE,
    DEFAULT_MARKERS,
    CostOnPoll,
    ErrorShape,
    FakeConfig,
    Phase,
    ProgressMode,
    Script,
    ScriptSetting,
    TaskSeconds,
    WebhookAuth,
)
from ._lifecycle import check_phases
from ._records import Delivery, FakeTask, Fault, RecordedRequest, Registry

if TYPE_CHECKING:
    from ._app import FakeService

__all__ = ["DELIVERY_PATH", "FakeBFL", "serve"]

DELIVERY_PATH = "/delivery/*"
"""Glob of the sample download path, for ``fail_next``/``count``."""

_INSTALL_HINT = "pip install 'flux-flex[fake]'"


def _require_fake_extra() -> None:
    try:
        import jsonschema  # type: ignore[import-untyped]  # noqa: F401
        import PIL  # noqa: F401
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            f"The flux-flex fake API needs starlette, uvicorn, pillow and jsonschema "
            f"({exc.name} is missing): {_INSTALL_HINT}"
        ) from exc


class FakeBFL(Closing):
    """The fake FLUX.2 [FLEX] API on a free port of 127.0.0.1, in a background thread.

    >>> with FakeBFL(task_seconds=0.1) as fake:
    ...     client = FluxFlex(api_key=fake.api_key, base_url=fake.base_url)

    ``config`` holds these settings; its fields may be changed while the fake runs (they are
    read on every request), except ``polling_base_url``/``delivery_base_url``'s ``{port}``.

    Args:
        task_seconds: how long a task runs before its final status: seconds, or a function
            of the request body returning seconds (to spread durations). Shared equally by
            the running statuses that have no seconds of their own.
        lifecycle: the running statuses, in order, each a name or ``(name, seconds)``;
            default ``("Pending", "Reasoning", "Generating")`` (``DEFAULT_LIFECYCLE``).
        reasoning_needs_upsampling: when True (default), a task submitted with
            ``prompt_upsampling: false`` skips ``Reasoning``. Our assumption: the vendor
            documents the statuses, not their order or what they depend on.
        script: statuses to serve instead of the lifecycle, the last one where the task
            ends (any string: an unknown status is served as is; a non-final last status
            means the task never finishes). A sequence for every task, or a function of the
            request body returning one (or None for the lifecycle). Items may be
            ``(status, seconds)``.
        progress: ``"fraction"`` (default: 0..1 while running, 1.0 when Ready, null after a
            failure), ``"null"`` (always null) or ``"omit"`` (no ``progress`` key).
        cost_on_poll: ``"ready"`` (default: a Ready poll carries the settled ``cost``),
            ``"always"`` (every poll of a known task carries it) or ``"never"``.
        balance: the account's credits; submissions are charged their cost when accepted
            (a task that then fails is not refunded: the vendor documents no refunds) and
            one that costs more than what is left gets 402 (no task). ``GET /v1/credits``
            answers what is left.
        error_shape: ``"detail"`` (FastAPI's ``{"detail": "..."}``, default) or ``"error"``
            (``{"error": code, "message": ..., "details": {...}}``) for every error but 422,
            which keeps FastAPI's shape.
        api_key: the only ``x-key`` accepted (401 when missing, 403 when wrong).
        max_in_flight: running tasks allowed at once; one more gets 429 with Retry-After.
        sample_ttl: seconds a sample URL works after the task is Ready (then 403).
        deliver_webhooks: False records webhook submissions but never POSTs.
        webhook_auth: how a delivery proves itself when a ``webhook_secret`` was given:
            ``"hmac"`` (default: ``X-BFL-Signature: sha256=<hex>``), ``"secret"`` (the
            secret echoed in ``X-Webhook-Secret``) or ``"both"``.
        webhook_retry_scale: multiplies the vendor's retry delays (1, 5, 30 s).
        webhook_timeout: seconds to wait for a receiver's answer.
        duplicate_webhooks: extra copies of a delivery sent after a 2xx (lost acks).
        webhook_response_shape: ``"async"`` answers a webhook submission with AsyncResponse
            (with polling_url), ``"webhook"`` with AsyncWebhookResponse (no polling_url).
        markers: prompt substring -> final status, or a whole script (default
            ``DEFAULT_MARKERS``).
        polling_base_url: base of ``polling_url`` (a "regional host"); ``{port}`` is replaced
            by the fake's port, e.g. ``"http://localhost:{port}"``.
        delivery_base_url: base of sample URLs, with the same ``{port}`` substitution.
        retry_after: fixed Retry-After seconds for 429s (default: until a slot frees, >= 1).
        default_size: width and height when the request leaves them 0/absent; default
            ``pricing.DEFAULT_OUTPUT_SIZE``, the size cost estimates assume, so an estimate
            of a request without a size is what the fake bills for it.
        strict_dimensions: the stricter reading of the open question of an explicit
            ``width``/``height`` of 0 (docs/api-facts.md#width-and-height-0): True answers
            it with the 422 a FastAPI server gives for the vendor's ``minimum: 64``; False
            (default) takes 0 as "the model chooses". Absent or null is accepted either way.
        host, port: where to listen (port 0: a free one).
    """

    def __init__(
        self,
        *,
        task_seconds: TaskSeconds = 0.2,
        lifecycle: Sequence[Phase] = DEFAULT_LIFECYCLE,
        reasoning_needs_upsampling: bool = True,
        script: ScriptSetting = None,
        progress: ProgressMode = "fraction",
        cost_on_poll: CostOnPoll = "ready",
        balance: float = DEFAULT_BALANCE,
        error_shape: ErrorShape = "detail",
        api_key: str = "test-key",
        max_in_flight: int = 24,
        sample_ttl: float = 600.0,
        deliver_webhooks: bool = True,
        webhook_auth: WebhookAuth = "hmac",
        webhook_retry_scale: float = 1.0,
        webhook_timeout: float = 30.0,
        duplicate_webhooks: int = 0,
        webhook_response_shape: Literal["async", "webhook"] = "async",
        markers: Mapping[str, str | Script] | None = None,
        polling_base_url: str | None = None,
        delivery_base_url: str | None = None,
        retry_after: float | None = None,
        default_size: tuple[int, int] = DEFAULT_OUTPUT_SIZE,
        strict_dimensions: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.config: FakeConfig = FakeConfig(
            task_seconds=task_seconds,
            lifecycle=check_phases(lifecycle, "lifecycle"),
            reasoning_needs_upsampling=reasoning_needs_upsampling,
            script=script if script is None or callable(script) else _script(script, "script"),
            progress=_choice(progress, "progress", ("fraction", "null", "omit")),
            cost_on_poll=_choice(cost_on_poll, "cost_on_poll", ("ready", "always", "never")),
            balance=float(balance),
            error_shape=_choice(error_shape, "error_shape", ("detail", "error")),
            api_key=api_key,
            max_in_flight=max_in_flight,
            sample_ttl=sample_ttl,
            deliver_webhooks=deliver_webhooks,
            webhook_auth=_choice(webhook_auth, "webhook_auth", ("hmac", "secret", "both")),
            webhook_retry_scale=webhook_retry_scale,
            webhook_timeout=webhook_timeout,
            duplicate_webhooks=duplicate_webhooks,
            webhook_response_shape=_choice(
                webhook_response_shape, "webhook_response_shape", ("async", "webhook")
            ),
            markers={
                text: outcome if isinstance(outcome, str) else _script(outcome, f"marker {text!r}")
                for text, outcome in (DEFAULT_MARKERS if markers is None else markers).items()
            },
            polling_base_url=polling_base_url,
            delivery_base_url=delivery_base_url,
            retry_after=retry_after,
            default_size=default_size,
            strict_dimensions=strict_dimensions,
        )
        self._host = host
        self._port = port
        self._registry = Registry()
        self._server: BackgroundServer | None = None
        self._service: FakeService | None = None
        self._base_url: str | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> FakeBFL:
        """Bind, start the server thread, and return once it accepts connections.

        A port that cannot be bound raises ``OSError`` (saying which and what to do).
        """
        _require_fake_extra()
        from ._app import FakeService, build_app

        if self._server is not None:
            raise RuntimeError("This FakeBFL is already running.")
        service = self._service = FakeService(self.config, self._registry)
        server = BackgroundServer(
            build_app(service),
            host=self._host,
            port=self._port,
            what="the fake API",
            lifespan="on",
            graceful_seconds=2.0,
            observer=service,
        ).bind()
        # A wildcard bind is still reached through loopback in the URLs the fake hands out.
        shown_host = "127.0.0.1" if self._host in ("", "0.0.0.0") else self._host
        self._base_url = f"http://{shown_host}:{server.port}"
        for name in ("polling_base_url", "delivery_base_url"):
            value = getattr(self.config, name)
            if value is not None:
                setattr(self.config, name, value.replace("{port}", str(server.port)))
        service.base_url = self._base_url
        server.start()
        self._server = server
        return self

    def asgi_app(self) -> Any:
        """This fake as an ASGI app, for in-process use without a socket.

        For example ``httpx.AsyncClient(transport=httpx.ASGITransport(app=fake.asgi_app()),
        base_url="http://fake")``. It shares this object's record (``requests``, ``tasks``...).
        Without a socket, ``drop_next``/``cut_download_next`` raise ``ConnectionAbortedError``
        inside the app instead, and ``connections`` stays 0. Prefer ``with FakeBFL()``.
        """
        _require_fake_extra()
        from ._app import FakeService, build_app

        if self._service is None:
            self._service = FakeService(self.config, self._registry)
        return build_app(self._service)

    @property
    def running(self) -> bool:
        """Whether the server thread is serving."""
        return self._server is not None and self._server.running

    def stop(self) -> None:
        """Stop the server (pending webhook deliveries are cancelled) and join its thread."""
        server, self._server = self._server, None
        if server is None:
            return
        service = self._service
        loop = server.loop
        with contextlib.suppress(RuntimeError):  # the loop may have closed meanwhile
            if service is not None and loop is not None and not loop.is_closed():
                loop.call_soon_threadsafe(service.closing.set)  # ends injected stalls early
        server.stop()

    def __repr__(self) -> str:
        where = self._base_url if self._server is not None else "stopped"
        return f"<FakeBFL {where} tasks={len(self._registry.tasks)}>"

    def _enter(self) -> None:
        self.start()

    def close(self) -> None:
        """Stop the server: `stop`, as ``with`` does on the way out."""
        self.stop()

    # -- where and who -----------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``: pass it as the client's base URL."""
        if self._base_url is None:
            raise RuntimeError("FakeBFL is not started: use it as a context manager.")
        return self._base_url

    @property
    def api_key(self) -> str:
        """The key the fake accepts."""
        return self.config.api_key

    def url(self, path: str) -> str:
        """Absolute URL of ``path`` on the fake."""
        return self.base_url + path

    # -- what happened -----------------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far (a copy), secrets masked."""
        with self._registry.lock:
            return list(self._registry.requests)

    @property
    def tasks(self) -> dict[str, FakeTask]:
        """Task id -> task record (a copy of the table; the records are live)."""
        with self._registry.lock:
            return dict(self._registry.tasks)

    @property
    def deliveries(self) -> list[Delivery]:
        """Every webhook delivery attempt so far."""
        with self._registry.lock:
            return list(self._registry.deliveries)

    def wait_for_deliveries(self, count: int = 1, timeout: float = 10.0) -> list[Delivery]:
        """Block until ``count`` delivery attempts are recorded; all of them so far.

        Raises ``TimeoutError`` (saying how many came) when they do not within ``timeout``.
        """
        registry = self._registry
        with registry.delivered:
            if not registry.delivered.wait_for(lambda: len(registry.deliveries) >= count, timeout):
                raise TimeoutError(
                    f"{len(registry.deliveries)} of {count} webhook deliveries in {timeout} s"
                )
            return list(registry.deliveries)

    @property
    def undeliverable(self) -> list[str]:
        """Ids of tasks whose webhook_url was not a loopback URL (never delivered)."""
        with self._registry.lock:
            return list(self._registry.undeliverable)

    @property
    def connections(self) -> int:
        """TCP connections accepted so far."""
        with self._registry.lock:
            return self._registry.connections

    @property
    def balance(self) -> float:
        """Credits left: ``config.balance`` minus what submissions were charged."""
        return self._registry.left(self.config.balance)

    @property
    def spent(self) -> float:
        """Credits charged since the start (or the last ``reset()``)."""
        with self._registry.lock:
            return round(self._registry.spent, 2)

    @property
    def rate_limited(self) -> int:
        """429 answers sent so far (rate limit and injected)."""
        with self._registry.lock:
            return self._registry.rate_limited

    @property
    def peak_in_flight(self) -> int:
        """The most tasks in flight at once so far (since the start or the last reset)."""
        with self._registry.lock:
            return self._registry.peak_in_flight

    @property
    def downloads(self) -> list[RecordedRequest]:
        """Requests to sample URLs (check ``carried_key`` is False on each)."""
        return [r for r in self.requests if fnmatch.fnmatchcase(r.path, DELIVERY_PATH)]

    def count(self, method: str, path: str) -> int:
        """Requests received with ``method`` (``*`` for any) on ``path`` (exact or glob)."""
        probe = Fault(kind="status", method=method, path=path, times=1)
        return sum(probe.matches(r.method, r.path) for r in self.requests)

    def task(self, task_id: str) -> FakeTask:
        """The record of one task (KeyError if unknown)."""
        with self._registry.lock:
            return self._registry.tasks[task_id]

    def reset(self) -> None:
        """Forget requests, tasks, deliveries, faults, counters and credits spent; cancel
        pending webhooks.

        The server keeps running (and ``config`` keeps its values): a fake shared by many
        tests can be reset between them instead of being restarted.
        """
        service, loop = self._service, self._server.loop if self._server else None
        if service is not None and loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed: nothing to cancel
                future = asyncio.run_coroutine_threadsafe(service.webhooks.cancel_pending(), loop)
                future.result(timeout=10)
        self._registry.clear()

    # -- fault injection ---------------------------------------------------------------------
    def fail_next(
        self,
        method: str,
        path: str,
        status: int = 500,
        times: int = 1,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
        *,
        create_task: bool = False,
    ) -> None:
        """Answer the next ``times`` matching requests with ``status`` (and headers/body).

        ``body`` may be JSON-able (sent as JSON), str or bytes; default
        ``{"detail": "Injected fault: <status>."}``. ``create_task=True`` processes a
        submission first (the task exists and is billed) and then answers the fault.
        """
        self._add(Fault("status", method, path, times, status, headers, body, create_task))

    def drop_next(
        self, method: str, path: str, times: int = 1, *, create_task: bool = False
    ) -> None:
        """Close the connection without an answer. ``create_task``: the task exists anyway."""
        self._add(Fault("drop", method, path, times, create_task=create_task))

    def stall_next(self, method: str, path: str, seconds: float, times: int = 1) -> None:
        """Wait ``seconds`` before answering normally (a submission is processed afterwards)."""
        self._add(Fault("stall", method, path, times, seconds=seconds))

    def malformed_next(
        self,
        method: str,
        path: str,
        kind: Literal["invalid_json", "missing_id"] = "invalid_json",
        times: int = 1,
    ) -> None:
        """Answer 200 with a body that is not JSON, or (``missing_id``) JSON without ``id``.

        The request is processed first: a submission answered this way did create a task.
        """
        self._add(Fault("malformed", method, path, times, malformed=kind))

    def cut_download_next(self, times: int = 1, fraction: float = 0.5) -> None:
        """Send only ``fraction`` of the next sample download, then close the connection."""
        self._add(Fault("cut", "GET", DELIVERY_PATH, times, fraction=fraction))

    def clear_faults(self) -> None:
        """Forget the faults not yet used."""
        with self._registry.lock:
            self._registry.faults.clear()

    def _add(self, fault: Fault) -> None:
        if fault.times < 1:
            raise ValueError("times must be at least 1")
        self._registry.add_fault(fault)


def _choice(value: Any, name: str, allowed: tuple[str, ...]) -> Any:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}; not {value!r}")
    return value


def _script(value: Any, what: str) -> Script:
    return check_phases(value, what, script=True)


def serve(
    host: str = "127.0.0.1",
    port: int = 8787,
    *,
    task_seconds: TaskSeconds = 2.0,
    api_key: str = "test-key",
    echo: Callable[[str], Any] = print,
    faults: Sequence[Mapping[str, Any]] = (),
    **options: Any,
) -> None:
    """Serve the fake API on ``host:port`` until interrupted (Ctrl-C, SIGTERM), printing URL,
    key and the behaviour that matters to a client.

    ``options`` are further ``FakeBFL`` keyword arguments (``max_in_flight``...); ``faults``
    are armed at start (see ``flux_flex.testing._options.parse_fault`` for their keys).
    """
    from ._options import apply_faults

    fake = FakeBFL(task_seconds=task_seconds, api_key=api_key, host=host, port=port, **options)
    apply_faults(fake, faults)
    fake.start()
    for line in _banner(fake, len(faults)):
        echo(line)
    try:
        if wait_until_interrupted(fake):
            echo("Stopping the fake API.")
    finally:
        fake.stop()


def _banner(fake: FakeBFL, faults: int) -> list[str]:
    config = fake.config
    seconds = "varying" if callable(config.task_seconds) else f"{config.task_seconds:g}"

    def shown(phases: Any) -> str:
        return " -> ".join(p if isinstance(p, str) else f"{p[0]} ({p[1]:g} s)" for p in phases)

    if config.script is None:
        flow = shown([*config.lifecycle, "Ready"])
        if config.reasoning_needs_upsampling and "Reasoning" in flow:
            flow += " (Reasoning only with prompt upsampling)"
    else:
        flow = "per task" if callable(config.script) else shown(config.script)
    markers = ", ".join(
        f"{m} -> {v if isinstance(v, str) else shown(v)}" for m, v in config.markers.items()
    )
    lines = [
        f"Fake FLUX.2 [FLEX] API at {fake.base_url}  (x-key: {fake.api_key})",
        f"  export BFL_BASE_URL={fake.base_url} BFL_API_KEY={fake.api_key}",
        f"  tasks take {seconds} s: {flow}",
        f"  prompt markers: {markers}",
        f"  balance {format_credits(config.balance)} credits; "
        f"{config.max_in_flight} tasks in flight; "
        f"progress {config.progress}; errors as {config.error_shape}; "
        f"webhooks signed {config.webhook_auth}",
    ]
    if faults:
        lines.append(f"  {faults} fault(s) armed for the next matching requests")
    lines.append("Press Ctrl-C to stop.")
    return lines
