"""The two thin drivers: they execute the core's actions with httpx, sync or async."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from flux_flex import _files
from flux_flex._core.actions import (
    Answer,
    AwaitDelivery,
    HttpFailure,
    HttpRequest,
    HttpResponse,
    Report,
    Send,
    Sleep,
)
from flux_flex._core.flows import Flow
from flux_flex._core.retry import FailureKind
from flux_flex._core.schedule import normalize_progress
from flux_flex.completion import CompletionSource
from flux_flex.models import ProgressCallback, TaskSnapshot

__all__ = ["AsyncDriver", "SyncDriver", "logger"]

logger = logging.getLogger("flux_flex")


def safe_url(url: str) -> str:
    """A URL fit for logs: no query (sample URLs carry signatures), no user info."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    query = "id=" + parts.query.split("id=", 1)[1].split("&", 1)[0] if "id=" in parts.query else ""
    return urlunsplit((parts.scheme, host, parts.path, query, ""))


def classify(exc: httpx.TransportError) -> FailureKind:
    """Whether the request provably never left (connect), timed out, or broke on the way."""
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return FailureKind.CONNECT
    if isinstance(exc, httpx.UnsupportedProtocol):
        return FailureKind.CONNECT
    if isinstance(exc, httpx.TimeoutException):
        return FailureKind.TIMEOUT
    return FailureKind.NETWORK


def snapshot_of(report: Report) -> TaskSnapshot:
    """What ``on_progress`` receives."""
    return TaskSnapshot(report.task_id, report.status, report.progress, report.result, report.raw)


class _Driver:
    def __init__(self, api_key: str, timeout: httpx.Timeout) -> None:
        self._api_key = api_key
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"{type(self).__name__}(api_key='***')"

    def _headers(self, request: HttpRequest) -> dict[str, str]:
        return {"x-key": self._api_key} if request.authenticated else {}

    def _timeout_for(self, request: HttpRequest) -> httpx.Timeout:
        limit = request.timeout
        if limit is None:
            return self._timeout
        t = self._timeout

        def cap(value: float | None) -> float:
            return limit if value is None else min(value, limit)

        return httpx.Timeout(
            connect=cap(t.connect), read=cap(t.read), write=cap(t.write), pool=cap(t.pool)
        )

    def _build(self, http: httpx.Client | httpx.AsyncClient, source: HttpRequest) -> httpx.Request:
        request = http.build_request(
            source.method,
            source.url,
            params=source.params,
            json=source.json,
            headers=self._headers(source),
            timeout=self._timeout_for(source),
        )
        if not source.authenticated:
            # Never send the key to a delivery host, even if the user's client has it as a
            # default header.
            request.headers.pop("x-key", None)
        return request

    @staticmethod
    def _log(request: HttpRequest, answer: Answer, started: float) -> None:
        if not logger.isEnabledFor(logging.DEBUG):
            return
        elapsed = time.monotonic() - started
        what = answer.status if isinstance(answer, HttpResponse) else answer
        logger.debug("%s %s -> %s (%.3f s)", request.method, safe_url(request.url), what, elapsed)


class SyncDriver(_Driver):
    """Runs flows with an `httpx.Client`, blocking."""

    def __init__(self, http: httpx.Client, api_key: str, timeout: httpx.Timeout) -> None:
        super().__init__(api_key, timeout)
        self.http = http

    def run(
        self,
        flow: Flow,
        *,
        source: CompletionSource | None = None,
        on_progress: ProgressCallback | None = None,
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
                elif isinstance(action, Report) and on_progress is not None:
                    on_progress(snapshot_of(action))
                action = flow.send(answer)
        except StopIteration as stop:
            return stop.value
        finally:
            flow.close()

    def send(self, request: HttpRequest) -> HttpResponse | HttpFailure:
        """One HTTP exchange, failures below HTTP returned as `HttpFailure`."""
        started = time.monotonic()
        built = self._build(self.http, request)
        answer: HttpResponse | HttpFailure
        try:
            response = self.http.send(
                built, stream=True, follow_redirects=not request.authenticated
            )
            try:
                if request.download_dir is not None and response.status_code == 200:
                    answer = self._stream_to_file(response, request.download_dir)
                else:
                    answer = HttpResponse(response.status_code, response.headers, response.read())
            finally:
                response.close()
        except httpx.TransportError as exc:
            answer = HttpFailure(classify(exc), f"{type(exc).__name__}: {exc}")
        self._log(request, answer, started)
        return answer

    @staticmethod
    def _stream_to_file(response: httpx.Response, directory: str) -> HttpResponse:
        with _files.TempDownload(directory) as sink:
            for chunk in response.iter_bytes():
                sink.write(chunk)
        return HttpResponse(200, response.headers, temp_path=sink.path, head=sink.head)


class AsyncDriver(_Driver):
    """Runs flows with an `httpx.AsyncClient`."""

    def __init__(self, http: httpx.AsyncClient, api_key: str, timeout: httpx.Timeout) -> None:
        super().__init__(api_key, timeout)
        self.http = http

    async def run(
        self,
        flow: Flow,
        *,
        source: CompletionSource | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> Any:
        """Drive ``flow`` to its end; its return value (or its exception)."""
        try:
            action = next(flow)
            while True:
                answer: Answer = None
                if isinstance(action, Send):
                    answer = await self.send(action.request)
                elif isinstance(action, Sleep):
                    logger.debug("waiting %.3f s before the next request", action.seconds)
                    await asyncio.sleep(action.seconds)
                elif isinstance(action, AwaitDelivery):
                    if source is not None:
                        answer = await source.wait_delivered_async(action.task_id, action.timeout)
                    else:
                        await asyncio.sleep(action.timeout)
                elif isinstance(action, Report) and on_progress is not None:
                    on_progress(snapshot_of(action))
                action = flow.send(answer)
        except StopIteration as stop:
            return stop.value
        finally:
            flow.close()

    async def send(self, request: HttpRequest) -> HttpResponse | HttpFailure:
        """One HTTP exchange, failures below HTTP returned as `HttpFailure`."""
        started = time.monotonic()
        built = self._build(self.http, request)
        answer: HttpResponse | HttpFailure
        try:
            response = await self.http.send(
                built, stream=True, follow_redirects=not request.authenticated
            )
            try:
                if request.download_dir is not None and response.status_code == 200:
                    answer = await self._stream_to_file(response, request.download_dir)
                else:
                    content = await response.aread()
                    answer = HttpResponse(response.status_code, response.headers, content)
            finally:
                await response.aclose()
        except httpx.TransportError as exc:
            answer = HttpFailure(classify(exc), f"{type(exc).__name__}: {exc}")
        self._log(request, answer, started)
        return answer

    @staticmethod
    async def _stream_to_file(response: httpx.Response, directory: str) -> HttpResponse:
        with _files.TempDownload(directory) as sink:
            async for chunk in response.aiter_bytes():
                sink.write(chunk)
        return HttpResponse(200, response.headers, temp_path=sink.path, head=sink.head)


def progress_fraction(value: float | None) -> float | None:
    """A single poll's progress as a fraction (values above 1 are percentages)."""
    return normalize_progress(value, percent=value is not None and value > 1.0)


def headers_dict(headers: Mapping[str, str]) -> dict[str, str]:
    """Plain dict of headers, lower-cased names."""
    return {k.lower(): v for k, v in headers.items()}
