"""The thin sync driver, and what it shares with the async one (`_async_driver`): they
execute the core's actions with httpx, and tell the caller of each poll (`Report`)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from flux_flex import _deadlines, _files
from flux_flex._core.actions import (
    Answer,
    AwaitDelivery,
    HttpFailure,
    HttpRequest,
    HttpResponse,
    Local,
    Report,
    Retrying,
    Send,
    Sleep,
)
from flux_flex._core.flows import Flow
from flux_flex._core.inflate import ACCEPT_ENCODING
from flux_flex._core.retry import FailureKind
from flux_flex._logs import setup_from_env
from flux_flex.completion import CompletionSource

__all__ = [
    "MAX_ANSWER_BYTES",
    "BaseDriver",
    "Exchange",
    "OnReport",
    "SyncDriver",
    "logger",
    "notice",
]

logger = logging.getLogger("flux_flex")
retry_logger = logging.getLogger("flux_flex.retry")
"""One INFO line per resend (`Retrying.message`): the CLI prints them; FLUX_FLEX_LOG=info
shows them too."""


setup_from_env()  # FLUX_FLEX_LOG: every client builds a driver, so this runs before any log


def notice(action: Retrying) -> None:
    """Tell of a resend the core decided on (every runner of flows calls this)."""
    retry_logger.info("%s", action.message)


OnReport = Callable[[Report], object]
"""Told of every poll a flow reports (the client turns it into ``on_progress``)."""


def safe_url(url: str) -> str:
    """A URL fit for logs: no query (sample URLs carry signatures), no user info."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    query = "id=" + parts.query.split("id=", 1)[1].split("&", 1)[0] if "id=" in parts.query else ""
    return urlunsplit((parts.scheme, host, parts.path, query, ""))


def classify(exc: httpx.RequestError) -> FailureKind:
    """Whether the request provably never left (connect), timed out, or broke on the way."""
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return FailureKind.CONNECT
    if isinstance(exc, httpx.UnsupportedProtocol):
        return FailureKind.CONNECT
    if isinstance(exc, httpx.TimeoutException):
        return FailureKind.TIMEOUT
    if isinstance(exc, httpx.TooManyRedirects):
        return FailureKind.PROTOCOL
    return FailureKind.NETWORK


# An API answer is a few hundred bytes of JSON; anything past this is not the API talking.
MAX_ANSWER_BYTES = 16 * 1024 * 1024


class Exchange:
    """One request's plan, the same for both drivers: the httpx request, its deadlines
    (response headers, then body), and how its body is taken: read whole, or streamed into
    a checked sink."""

    __slots__ = ("body_deadline", "built", "head_deadline", "source")

    def __init__(
        self, driver: BaseDriver, http: httpx.Client | httpx.AsyncClient, source: HttpRequest
    ) -> None:
        self.source = source
        now = time.monotonic()
        # The client's timeout bounds an exchange; `source.timeout` may bound it further (the
        # time left before a wait's deadline), or, for a download, be its whole-transfer bound.
        limit = driver.exchange_timeout
        if source.timeout is not None and (limit is None or source.timeout < limit):
            limit = source.timeout
        self.head_deadline = None if limit is None else now + limit
        if source.download and source.timeout is not None:
            self.body_deadline: float | None = now + source.timeout
        else:
            self.body_deadline = self.head_deadline
        self.built = driver.build(http, source, limit)

    def reads_whole(self, driver: BaseDriver, response: httpx.Response) -> bool:
        """Whether the body may be read in one go (`httpx.Response.read`) rather than
        streamed through a `_files.BodySink`: an API answer (not a download) on a client
        whose socket operations are capped at the deadline, framed by one Content-Length
        within `MAX_ANSWER_BYTES` (h11 then reads exactly that many bytes) and not
        compressed. The same bounds as the sink's, at a fraction of its cost: every poll
        takes this path."""
        if self.source.download or not driver.deadlines_enforced:
            return False
        length: bytes | None = None
        for name, value in response.headers.raw:  # one pass: cheaper than three lookups
            name = name.lower()
            if name == b"content-length":
                if length is not None:
                    return False  # repeated: leave it to the counting sink
                length = value
            elif name == b"transfer-encoding":
                return False  # chunked framing wins over a Content-Length: it says nothing
            elif name == b"content-encoding" and value.strip().lower() not in (b"", b"identity"):
                return False  # a small compressed body may inflate past any bound
        return length is not None and length.isdigit() and int(length) <= MAX_ANSWER_BYTES

    def sink(self, response: httpx.Response) -> _files.BodySink:
        """Where the body goes; raises `_files.Refused` for a body announced as too large."""
        source = self.source
        if source.download and response.status_code == 200:
            return _files.BodySink(
                200,
                response.headers,
                max_bytes=source.max_bytes or MAX_ANSWER_BYTES,
                image=True,
                directory=source.download_dir,
                deadline=self.body_deadline,
                stale_after=source.timeout or 0.0,
            )
        return _files.BodySink(
            response.status_code,
            response.headers,
            max_bytes=MAX_ANSWER_BYTES,
            deadline=self.head_deadline,
        )


class BaseDriver:
    """What the sync and async drivers share: the key, the timeouts, building requests."""

    def __init__(
        self, http: httpx.Client | httpx.AsyncClient, api_key: str, timeout: httpx.Timeout
    ) -> None:
        self._api_key = api_key
        self._timeout = timeout
        self._timeouts = timeout.as_dict()
        self.exchange_timeout: float | None = exchange_bound(timeout)
        """The longest any one exchange may take (`exchange_bound`)."""
        # Every socket operation capped at the time left (see `_deadlines`); a transport we
        # do not recognise is bounded between body chunks only. Imported here, not at the
        # top: it loads httpcore, which httpx has loaded by now to build `http`'s transport.
        from flux_flex._deadline_network import install

        self.deadlines_enforced = install(http)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(api_key='***')"

    def _headers(self, request: HttpRequest) -> dict[str, str]:
        # Only the encodings `_files.BodySink` inflates in bounded steps (httpx would add br
        # or zstd when their packages are installed).
        if request.authenticated:
            return {"x-key": self._api_key, "accept-encoding": ACCEPT_ENCODING}
        return {"accept-encoding": ACCEPT_ENCODING}

    def build(
        self, http: httpx.Client | httpx.AsyncClient, source: HttpRequest, limit: float | None
    ) -> httpx.Request:
        """The httpx request for ``source``; its timeouts capped at ``limit`` seconds."""
        timeouts = self._timeouts
        if limit is not None and (self.exchange_timeout is None or limit < self.exchange_timeout):
            # Caps the pool wait too (no socket involved).
            timeouts = {
                name: limit if value is None or value > limit else value
                for name, value in timeouts.items()
            }
        # The timeouts as the extension httpx would make of an httpx.Timeout: given so, httpx
        # builds no new Timeout for each request (a copy: the request may keep it).
        request = http.build_request(
            source.method,
            source.url,
            params=source.params,
            json=source.json,
            headers=self._headers(source),
            extensions={"timeout": dict(timeouts)},
        )
        if not source.authenticated:
            # Never send the key to a delivery host, even if the user's client has it as a
            # default header.
            request.headers.pop("x-key", None)
        return request

    @staticmethod
    def _failure(exc: httpx.RequestError | httpx.InvalidURL) -> HttpFailure:
        if isinstance(exc, httpx.InvalidURL):
            return HttpFailure(FailureKind.PROTOCOL, f"InvalidURL: {exc}")
        return HttpFailure(classify(exc), f"{type(exc).__name__}: {exc}")

    @staticmethod
    def _log(request: HttpRequest, answer: Answer, started: float) -> None:
        elapsed = time.monotonic() - started
        what = answer.status if isinstance(answer, HttpResponse) else answer
        logger.debug("%s %s -> %s (%.3f s)", request.method, safe_url(request.url), what, elapsed)


class SyncDriver(BaseDriver):
    """Runs flows with an `httpx.Client`, blocking."""

    def __init__(self, http: httpx.Client, api_key: str, timeout: httpx.Timeout) -> None:
        super().__init__(http, api_key, timeout)
        self.http = http

    def run(
        self,
        flow: Flow,
        *,
        source: CompletionSource | None = None,
        on_report: OnReport | None = None,
    ) -> Any:
        """Drive ``flow`` to its end; its return value (or its exception)."""
        try:
            action = next(flow)
            while True:
                answer: Answer = None
                if isinstance(action, Send):
                    answer = self.send(action.request)
                elif isinstance(action, Sleep):
                    logger.debug("waiting %.3f s before the next request", action.seconds)
                    time.sleep(action.seconds)
                elif isinstance(action, AwaitDelivery):
                    if source is not None:
                        answer = source.wait_delivered(action.task_id, action.timeout)
                    else:
                        time.sleep(action.timeout)
                elif isinstance(action, Report) and on_report is not None:
                    on_report(action)
                elif isinstance(action, Retrying):
                    notice(action)
                elif isinstance(action, Local):
                    answer = action.function()
                action = flow.send(answer)
        except StopIteration as stop:
            return stop.value
        finally:
            flow.close()

    def send(self, request: HttpRequest) -> Answer:
        """One HTTP exchange; failures below HTTP and refused bodies returned as answers."""
        started = time.monotonic() if logger.isEnabledFor(logging.DEBUG) else None
        answer: Answer
        try:
            plan = Exchange(self, self.http, request)
            token = _deadlines.begin(plan.head_deadline)
            try:
                response = self.http.send(
                    plan.built, stream=True, follow_redirects=not request.authenticated
                )
                try:
                    _deadlines.set_deadline(plan.body_deadline)
                    if plan.reads_whole(self, response):
                        answer = HttpResponse(
                            response.status_code, response.headers, response.read()
                        )
                    else:
                        with plan.sink(response) as sink:
                            for chunk in response.iter_raw():
                                sink.take(chunk)
                            answer = sink.answer()
                finally:
                    response.close()
            finally:
                _deadlines.end(token)
        except (httpx.RequestError, httpx.InvalidURL) as exc:
            answer = self._failure(exc)
        except _files.Refused as refused:
            answer = refused.answer
        if started is not None:  # DEBUG logging is on
            self._log(request, answer, started)
        return answer


def exchange_bound(timeout: httpx.Timeout) -> float | None:
    """The longest one exchange may take: the largest of the client's timeouts (each
    exchange's socket operations all end by then, see `_deadlines`); None when unbounded."""
    limits = [value for value in timeout.as_dict().values() if value is not None]
    return max(limits) if limits else None
