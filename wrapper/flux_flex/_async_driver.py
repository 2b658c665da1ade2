"""The thin async driver: runs the core's flows with an `httpx.AsyncClient`.

A module of its own so that the sync client does not import asyncio.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx

from flux_flex import _deadlines, _files
from flux_flex._core.actions import (
    Answer,
    AwaitDelivery,
    HttpRequest,
    HttpResponse,
    Local,
    Report,
    Retrying,
    Send,
    Sleep,
)
from flux_flex._core.flows import Flow
from flux_flex._drivers import BaseDriver, Exchange, OnReport, logger, notice
from flux_flex.completion import CompletionSource

__all__ = ["AsyncDriver"]


class AsyncDriver(BaseDriver):
    """Runs flows with an `httpx.AsyncClient`."""

    def __init__(self, http: httpx.AsyncClient, api_key: str, timeout: httpx.Timeout) -> None:
        super().__init__(http, api_key, timeout)
        self.http = http

    async def run(
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
                    answer = await self.send(action.request)
                elif isinstance(action, Sleep):
                    logger.debug("waiting %.3f s before the next request", action.seconds)
                    await asyncio.sleep(action.seconds)
                elif isinstance(action, AwaitDelivery):
                    if source is not None:
                        answer = await source.wait_delivered_async(action.task_id, action.timeout)
                    else:
                        await asyncio.sleep(action.timeout)
                elif isinstance(action, Report) and on_report is not None:
                    on_report(action)
                elif isinstance(action, Retrying):
                    notice(action)
                elif isinstance(action, Local):  # blocking work: off the event loop
                    answer = await asyncio.to_thread(action.function)
                action = flow.send(answer)
        except StopIteration as stop:
            return stop.value
        finally:
            flow.close()

    async def send(self, request: HttpRequest) -> Answer:
        """One HTTP exchange; failures below HTTP and refused bodies returned as answers."""
        started = time.monotonic() if logger.isEnabledFor(logging.DEBUG) else None
        answer: Answer
        try:
            plan = Exchange(self, self.http, request)
            token = _deadlines.begin(plan.head_deadline)
            try:
                response = await self.http.send(
                    plan.built, stream=True, follow_redirects=not request.authenticated
                )
                try:
                    _deadlines.set_deadline(plan.body_deadline)
                    if plan.reads_whole(self, response):
                        answer = HttpResponse(
                            response.status_code, response.headers, await response.aread()
                        )
                    else:
                        with plan.sink(response) as sink:
                            async for chunk in response.aiter_raw():
                                sink.take(chunk)
                            answer = sink.answer()
                finally:
                    await response.aclose()
            finally:
                _deadlines.end(token)
        except (httpx.RequestError, httpx.InvalidURL) as exc:
            answer = self._failure(exc)
        except _files.Refused as refused:
            answer = refused.answer
        if started is not None:  # DEBUG logging is on
            self._log(request, answer, started)
        return answer
