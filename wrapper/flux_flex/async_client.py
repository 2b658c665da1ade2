"""`AsyncFluxFlex`: the asyncio client. Every call is built by `BaseClient`; here it is
awaited. A module of its own so that the sync client does not import asyncio."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, TypeVar, Unpack

import httpx

from flux_flex._async_driver import AsyncDriver
from flux_flex._base_client import BaseClient
from flux_flex._client_core import (
    Call,
)
from flux_flex._closing import AsyncClosing
from flux_flex.completion import CompletionSource
from flux_flex.models import AsyncJob, AsyncResult, ProgressCallback, TaskSnapshot, WaitOptions
from flux_flex.params import SubmitParams

if TYPE_CHECKING:  # loaded by the first batch: a client for single calls does without them
    from flux_flex._batch.engine import BatchOptions, Request
    from flux_flex._batch.tasks import AsyncBatchRun
    from flux_flex.journal import Journal

__all__ = ["AsyncFluxFlex"]

T = TypeVar("T")


class AsyncFluxFlex(
    BaseClient[AsyncJob, AsyncResult, AsyncDriver, httpx.AsyncClient], AsyncClosing
):
    """The asyncio client for FLUX.2 [FLEX]: the same parameters and methods as
    `FluxFlex`, awaited. Pass ``http_client`` to use your own ``httpx.AsyncClient`` (it is
    not closed by us); use it as ``async with AsyncFluxFlex() as client:``."""

    _job_type = AsyncJob
    _result_type = AsyncResult

    def _new_http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(**self._http_options())

    def _new_driver(self) -> AsyncDriver:
        return AsyncDriver(self._http, self._core.settings.api_key, self._core.options.timeout)

    async def _call(self, call: Call[T]) -> T:
        value = await self._driver.run(call.flow, source=call.source, on_report=call.on_report)
        return call.finish(value)

    async def submit(
        self,
        prompt: str,
        *,
        idempotency_key: str | None = None,
        journal: Journal | str | os.PathLike[str] | None = None,
        resubmit_uncertain: bool = False,
        **params: Unpack[SubmitParams],
    ) -> AsyncJob:
        """Submit a task (billed) and return its `AsyncJob` at once; see `FluxFlex.submit`
        (``idempotency_key``, ``journal`` and ``resubmit_uncertain`` included)."""
        call = self._submit_call(
            prompt,
            params,
            idempotency_key=idempotency_key,
            journal=journal,
            resubmit_uncertain=resubmit_uncertain,
        )
        return await self._call(call)

    async def wait(
        self,
        job: AsyncJob | str,
        *,
        timeout: float = 300.0,
        **options: Unpack[WaitOptions],
    ) -> AsyncResult:
        """Wait for ``job`` to be ready (``timeout`` bounds the whole call, the download to
        ``save_to`` included); see `FluxFlex.wait`."""
        return await self._call(self._wait_call(job, timeout=timeout, **options))

    async def generate(
        self,
        prompt: str,
        *,
        save_to: str | os.PathLike[str] | None = None,
        timeout: float = 300.0,
        on_progress: ProgressCallback | None = None,
        webhook: CompletionSource | None = None,
        webhook_grace: float | None = None,
        idempotency_key: str | None = None,
        journal: Journal | str | os.PathLike[str] | None = None,
        resubmit_uncertain: bool = False,
        **params: Unpack[SubmitParams],
    ) -> AsyncResult:
        """Submit, wait, and (with ``save_to``) download, all within ``timeout``; see
        `FluxFlex.generate`."""
        call = self._generate_call(
            prompt,
            params,
            save_to=save_to,
            timeout=timeout,
            on_progress=on_progress,
            webhook=webhook,
            webhook_grace=webhook_grace,
            idempotency_key=idempotency_key,
            journal=journal,
            resubmit_uncertain=resubmit_uncertain,
        )
        return await self._call(call)

    async def get_result(
        self, task_id: str | AsyncJob, polling_url: str | None = None
    ) -> TaskSnapshot:
        """One poll of a task, no waiting. Final statuses are returned, not raised."""
        return await self._call(self._get_result_call(task_id, polling_url))

    async def download(self, result: AsyncResult, path: str | os.PathLike[str]) -> str:
        """Download ``result``'s image to ``path`` (see `Result.save`)."""
        return await self._call(self._download_call(result, path))

    async def download_bytes(self, result: AsyncResult) -> bytes:
        """Download ``result``'s image into memory."""
        return await self._call(self._download_bytes_call(result))

    async def credits(self) -> float:
        """The account's balance in credits (``GET /v1/credits``; 1 credit is 0.01 USD)."""
        return await self._call(self._credits_call())

    async def generate_many(
        self,
        requests: Iterable[Request],
        *,
        concurrency: int = 24,
        timeout: float = 300.0,
        on_result: Callable[[int, AsyncResult | BaseException], object] | None = None,
        **options: Unpack[BatchOptions],
    ) -> list[AsyncResult | BaseException]:
        """Generate many images with at most ``concurrency`` tasks in flight, as asyncio
        tasks; see `FluxFlex.generate_many` (the same engine and guarantees). If the call is
        cancelled, POSTs already sent are awaited and recorded, and the tasks stay
        resumable."""
        from flux_flex._batch.tasks import generate_many_async

        return await generate_many_async(
            self._batch_parts(),
            requests,
            on_result=on_result,
            concurrency=concurrency,
            timeout=timeout,
            **self._batch_options(options),
        )

    def generate_as_completed(
        self,
        requests: Iterable[Request],
        *,
        concurrency: int = 24,
        timeout: float = 300.0,
        **options: Unpack[BatchOptions],
    ) -> AsyncBatchRun[AsyncResult]:
        """Like `generate_many`, but yields ``(index, outcome)`` as each request finishes
        (``async with ... as run: async for index, outcome in run``); see
        `FluxFlex.generate_as_completed`."""
        from flux_flex._batch.tasks import AsyncBatchRun

        return AsyncBatchRun(
            self._batch_parts(),
            requests,
            concurrency=concurrency,
            timeout=timeout,
            **self._batch_options(options),
        )

    async def aclose(self) -> None:
        """Close the HTTP connections (not those of a client you passed in), and the task
        journal the client opened, as ``async with`` does on the way out."""
        if self._owns_http:
            await self._http.aclose()
        if self._owns_journal and self._journal is not None:
            await asyncio.to_thread(self._journal.close)

    async def close(self) -> None:
        """Close the HTTP connections: the same as `aclose`."""
        await self.aclose()
