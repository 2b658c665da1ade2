"""`AsyncFluxFlex`: the asyncio client (a thin driver over `flux_flex._core`)."""

from __future__ import annotations

import copy
import os
import typing
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import Unpack

import attrs
import httpx

from flux_flex import _files
from flux_flex._async_driver import AsyncDriver
from flux_flex._core.actions import HttpResponse
from flux_flex._core.pricing import Estimate
from flux_flex._core.retry import RetryPolicy
from flux_flex._core.schedule import PollSchedule
from flux_flex._core.status import Acknowledged, Finished, Polled
from flux_flex._drivers import progress_fraction
from flux_flex._shared import (
    DEFAULT_DOWNLOAD_TIMEOUT,
    DEFAULT_MAX_DOWNLOAD_BYTES,
    ClientCore,
    user_agent,
)
from flux_flex.completion import CompletionSource
from flux_flex.models import AsyncJob, AsyncResult, ProgressCallback, TaskSnapshot
from flux_flex.params import ImageInput, OutputFormatName, SubmitParams

if typing.TYPE_CHECKING:  # the batch engine (generate_many / generate_as_completed)
    from flux_flex._batch import AsyncBatchRun, BatchEvent, Request
    from flux_flex.journal import Journal

__all__ = ["AsyncFluxFlex"]


class AsyncFluxFlex:
    """Client for FLUX.2 [FLEX]: submit, wait, download.

    ``api_key`` defaults to ``$BFL_API_KEY``; ``base_url`` to ``$BFL_BASE_URL``, else the
    host of ``region`` (``"global"``, ``"eu"``, ``"us"``), else ``https://api.bfl.ai``.
    ``timeout`` bounds every single HTTP request (seconds or an ``httpx.Timeout``);
    ``max_retries`` / ``retry`` set the retry budget; ``poll_schedule`` spaces the polls.
    Pass ``http_client`` to use your own ``httpx.AsyncClient`` (it is not closed by us).
    ``with_options(...)`` gives a copy with other settings that shares the connections;
    ``credits()``, ``estimate_cost(...)`` and ``validate(...)`` help before paying.
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        region: str | None = None,
        *,
        timeout: float | httpx.Timeout = 30.0,
        max_retries: int | None = None,
        retry: RetryPolicy | None = None,
        poll_schedule: PollSchedule | None = None,
        trusted_hosts: Sequence[str] = (),
        download_timeout: float = DEFAULT_DOWNLOAD_TIMEOUT,
        max_download_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES,
        http_client: httpx.AsyncClient | None = None,
        max_connections: int = 32,
    ) -> None:
        self._core = ClientCore(
            api_key,
            base_url,
            region,
            timeout=timeout,
            max_retries=max_retries,
            retry=retry,
            poll_schedule=poll_schedule,
            trusted_hosts=trusted_hosts,
            download_timeout=download_timeout,
            max_download_bytes=max_download_bytes,
        )
        self._owns_http = http_client is None
        # One pool for everything, sized for generate_many's default concurrency (24 tasks
        # in flight, the API's limit) plus downloads.
        self._http = http_client or httpx.AsyncClient(
            timeout=self._core.timeout,
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            headers={"user-agent": user_agent()},
        )
        self._driver = self._new_driver(self._core)

    def _new_driver(self, core: ClientCore) -> AsyncDriver:
        return AsyncDriver(self._http, core.settings.api_key, core.timeout)

    def __repr__(self) -> str:
        return self._core.describe(type(self).__name__)

    @property
    def base_url(self) -> str:
        """The API host requests go to."""
        return self._core.base_url

    async def submit(
        self,
        prompt: str,
        *,
        width: int | None = None,
        height: int | None = None,
        seed: int | None = None,
        steps: int | None = None,
        guidance: float | None = None,
        safety_tolerance: int | None = None,
        output_format: OutputFormatName | None = None,
        prompt_upsampling: bool | None = None,
        input_images: Sequence[ImageInput] | None = None,
        input_image_blob_path: str | None = None,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        user: str | None = None,
    ) -> AsyncJob:
        """Submit a task (billed) and return its `Job` at once.

        Arguments left at None are not sent (the API applies its defaults); width/height 0
        also mean "model chooses". Input is checked against the spec first: bad input raises
        `RequestValidationError` before any request is sent.

        ``input_images`` (at most 8, sent as ``input_image`` … ``input_image_8``): paths are
        read and base64-encoded, bytes base64-encoded, http(s) URLs and base64 text sent as
        they are, data URIs sent as their base64 payload (the prefix is stripped).
        A submission is billed and never resent unless it provably did not leave (connect
        error) or was refused with 429; a 5xx or lost answer raises an error whose
        ``task_may_exist`` is True.
        """
        params = {
            "width": width,
            "height": height,
            "seed": seed,
            "steps": steps,
            "guidance": guidance,
            "safety_tolerance": safety_tolerance,
            "output_format": output_format,
            "prompt_upsampling": prompt_upsampling,
            "input_images": input_images,
            "input_image_blob_path": input_image_blob_path,
            "webhook_url": webhook_url,
            "webhook_secret": webhook_secret,
            "user": user,
        }
        ack: Acknowledged = await self._driver.run(self._core.submit_flow(prompt, params))
        return self._job(ack, webhook_secret)

    async def wait(
        self,
        job: AsyncJob | str,
        *,
        timeout: float = 300.0,
        on_progress: ProgressCallback | None = None,
        webhook: CompletionSource | None = None,
        webhook_grace: float | None = None,
    ) -> AsyncResult:
        """Wait for ``job`` to be ready and return its `Result`.

        Polls the job's ``polling_url`` on the client's schedule; with ``webhook`` (a
        `CompletionSource`), completes as soon as the delivery for this task arrives and
        polls only after ``webhook_grace`` seconds as the fallback. Raises
        `ModerationError`, `TaskFailedError`, `TaskNotFoundError` at once, and
        `WaitTimeoutError` (with the task id, to resume with `job`) after ``timeout``.
        """
        if isinstance(job, str):
            job = self.job(job)
        flow = self._core.wait_flow(
            job.id,
            job.polling_url,
            timeout=timeout,
            webhook=webhook is not None,
            webhook_grace=webhook_grace,
            submitted_at=job.submitted_at,
            webhook_secret=job.webhook_secret,
        )
        finished: Finished = await self._driver.run(flow, source=webhook, on_progress=on_progress)
        return self._result(finished)

    async def generate(
        self,
        prompt: str,
        *,
        save_to: str | os.PathLike[str] | None = None,
        timeout: float = 300.0,
        on_progress: ProgressCallback | None = None,
        webhook: CompletionSource | None = None,
        webhook_grace: float | None = None,
        **params: Unpack[SubmitParams],
    ) -> AsyncResult:
        """Submit, wait, and (with ``save_to``) download: the one-call way to an image.

        With ``save_to``, the returned result's ``path`` is the file written. Its extension
        chooses ``output_format`` when that is not given (``.png``, ``.jpg``/``.jpeg``,
        ``.webp``); an extension that contradicts ``output_format``, or another one
        (``.gif``), is refused with `RequestValidationError` before anything is sent. Without
        an extension, the image's real format's is added.
        """
        params = self._core.params_for_target(params, save_to)
        if save_to is not None:
            _files.prepare_target(save_to)
        with self._core.deadline(timeout):  # submit, wait and save: one deadline
            job = await self.submit(prompt, **params)
            result = await job.wait(
                timeout=timeout,
                on_progress=on_progress,
                webhook=webhook,
                webhook_grace=webhook_grace,
            )
            if save_to is None:
                return result
            return attrs.evolve(result, path=await result.save(save_to))

    def job(
        self, task_id: str, polling_url: str | None = None, *, webhook_secret: str | None = None
    ) -> AsyncJob:
        """A `Job` for a task submitted earlier (e.g. after a `WaitTimeoutError`).

        Give the ``webhook_secret`` it was submitted with, if any: errors then mask it too.
        """
        if not isinstance(task_id, str) or not task_id:
            raise ValueError("task_id must be a non-empty string")
        return AsyncJob(
            id=task_id,
            polling_url=self._core.polling_url(task_id, polling_url),
            webhook_secret=webhook_secret,
            client=self,
        )

    async def get_result(
        self, task_id: str | AsyncJob, polling_url: str | None = None
    ) -> TaskSnapshot:
        """One poll of a task, no waiting. Final statuses are returned, not raised."""
        if isinstance(task_id, str):
            polled: Polled = await self._driver.run(self._core.poll_flow(task_id, polling_url))
        else:
            url = polling_url or task_id.polling_url
            flow = self._core.poll_flow(task_id.id, url, webhook_secret=task_id.webhook_secret)
            polled = await self._driver.run(flow)
        return TaskSnapshot(
            polled.id, polled.status, progress_fraction(polled.progress), polled.result, polled.raw
        )

    async def download(self, result: AsyncResult, path: str | os.PathLike[str]) -> str:
        """Download ``result``'s image to ``path`` (see `Result.save`)."""
        self._core.target_format(path, None, field="path")
        flow = self._core.download_flow(result.url, result.id, _files.download_dir_for(path))
        response: HttpResponse = await self._driver.run(flow)
        assert response.temp_path is not None
        return _files.finalize(response.temp_path, response.head, path, result.id)

    async def download_bytes(self, result: AsyncResult) -> bytes:
        """Download ``result``'s image into memory."""
        flow = self._core.download_flow(result.url, result.id, None)
        response: HttpResponse = await self._driver.run(flow)
        return response.content

    async def credits(self) -> float:
        """The account's balance in credits (``GET /v1/credits``; 1 credit is 0.01 USD)."""
        balance: float = await self._driver.run(self._core.credits_flow())
        return balance

    def estimate_cost(self, prompt: str, **params: Unpack[SubmitParams]) -> Estimate:
        """What a task with these parameters should cost, from the published pricing; nothing
        is sent.

        The request is checked as `submit` checks it (`RequestValidationError`). Input images
        are measured by their real size (paths, bytes, base64 and data URIs are decoded);
        a URL's size is unknown and assumed (see ``Estimate.assumptions``), as is the output
        size when width/height are left to the model. The ``cost`` the API answers (on the
        `Job`, and settled on the `Result`) is the authority; this is only a guide.

        Synchronous on this client too: it sends nothing (it only reads local input
        images to measure them).
        """
        return self._core.estimate(prompt, params)

    def validate(
        self,
        prompt: str,
        *,
        save_to: str | os.PathLike[str] | None = None,
        **params: Unpack[SubmitParams],
    ) -> None:
        """Check a request exactly as `generate` would (body, images, ``save_to``'s
        extension), sending nothing: one `RequestValidationError` listing every refused
        field, an unknown keyword included (``sead`` → "did you mean 'seed'?")."""
        self._core.validate(prompt, params, save_to)

    def with_options(
        self,
        *,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int | None = None,
        retry: RetryPolicy | None = None,
        poll_schedule: PollSchedule | None = None,
        trusted_hosts: Sequence[str] | None = None,
        download_timeout: float | None = None,
        max_download_bytes: int | None = None,
    ) -> AsyncFluxFlex:
        """A copy of this client with the options given replaced (the others kept), sharing
        its connection pool: closing the copy leaves the pool open, closing this client
        closes it for both.

        ``client.with_options(timeout=5, max_retries=0).get_result(task_id)``
        """
        clone = copy.copy(self)
        clone._core = self._core.with_options(
            timeout=timeout,
            max_retries=max_retries,
            retry=retry,
            poll_schedule=poll_schedule,
            trusted_hosts=trusted_hosts,
            download_timeout=download_timeout,
            max_download_bytes=max_download_bytes,
        )
        clone._owns_http = False
        clone._driver = clone._new_driver(clone._core)
        return clone

    async def close(self) -> None:
        """Close the HTTP connections (not those of a client you passed in)."""
        if self._owns_http:
            await self._http.aclose()

    def _job(self, ack: Acknowledged, webhook_secret: str | None = None) -> AsyncJob:
        return AsyncJob(
            id=ack.id,
            polling_url=ack.polling_url,
            cost=ack.cost,
            input_mp=ack.input_mp,
            output_mp=ack.output_mp,
            webhook_url=ack.webhook_url,
            raw=ack.raw,
            submitted_at=self._core.env.clock(),
            webhook_secret=webhook_secret,
            client=self,
        )

    def _result(self, finished: Finished) -> AsyncResult:
        return AsyncResult(
            id=finished.id,
            url=finished.url,
            seed=finished.seed,
            prompt=finished.prompt,
            raw=finished.raw,
            cost=finished.cost,
            client=self,
        )

    async def generate_many(
        self,
        requests: Iterable[Request],
        *,
        concurrency: int = 24,
        timeout: float = 300.0,
        on_result: Callable[[int, AsyncResult | BaseException], object] | None = None,
        journal: Journal | str | os.PathLike[str] | None = None,
        resubmit_uncertain: bool = False,
        retry_failed: bool = False,
        stream: bool = False,
        on_event: Callable[[BatchEvent], object] | None = None,
        on_progress: Callable[[int, TaskSnapshot], object] | None = None,
    ) -> list[AsyncResult | BaseException]:
        """Generate many images with at most ``concurrency`` tasks in flight.

        Each request is a prompt or a dict of `generate` keyword arguments (``save_to``
        included). Returns one outcome per request, in order: the `AsyncResult`, or the
        exception that request ended with. One failure never cancels the others; 429s are
        retried within the retry budget. ``on_result(index, outcome)`` is called as each
        request finishes (in completion order); ``on_event`` receives a `BatchEvent` at
        every step, with live `BatchCounts` (in flight, done, failed, credits spent);
        ``on_progress(index, snapshot)`` receives every poll of every request's task.

        Every request is checked before any is sent: if one is invalid nothing is sent and
        `BatchValidationError` names each ``requests[i].field``. ``requests`` may be any
        iterable; it is read once, up front. ``stream=True`` reads it lazily instead (for an
        endless generator): each request is checked just before it is sent, and a bad one
        becomes its outcome. ``concurrency`` workers pull from it, so memory does not grow
        with the number of requests (beyond the outcomes returned).

        ``journal`` (a `Journal` or a file path) makes the batch safe to run again: a re-run
        skips what was saved, resumes tasks already created (never submitting them twice),
        and reports a submission whose answer was lost as `TaskUncertainError` instead of
        paying again — resubmitted only with ``resubmit_uncertain=True``. Requests that
        failed are retried only with ``retry_failed=True``. If the call is cancelled, POSTs
        already sent are awaited and recorded, and the tasks stay resumable.
        """
        from flux_flex._batch import generate_many_async

        return await generate_many_async(
            self,
            requests,
            on_result=on_result,
            concurrency=concurrency,
            timeout=timeout,
            journal=journal,
            resubmit_uncertain=resubmit_uncertain,
            retry_failed=retry_failed,
            stream=stream,
            on_event=on_event,
            on_progress=on_progress,
        )

    def generate_as_completed(
        self,
        requests: Iterable[Request],
        *,
        concurrency: int = 24,
        timeout: float = 300.0,
        journal: Journal | str | os.PathLike[str] | None = None,
        resubmit_uncertain: bool = False,
        retry_failed: bool = False,
        stream: bool = False,
        on_event: Callable[[BatchEvent], object] | None = None,
        on_progress: Callable[[int, TaskSnapshot], object] | None = None,
    ) -> AsyncBatchRun:
        """Like `generate_many`, but yields ``(index, outcome)`` as each request finishes.

            async with client.generate_as_completed(prompts, journal="tasks.sqlite") as run:
                async for index, outcome in run:
                    print(index, outcome, run.counts.in_flight)

        Nothing is sent before the first iteration. Leaving the ``async with`` block stops
        the run (POSTs already sent are awaited and recorded; created tasks stay resumable).
        """
        from flux_flex._batch import AsyncBatchRun

        return AsyncBatchRun(
            self,
            requests,
            concurrency=concurrency,
            timeout=timeout,
            journal=journal,
            resubmit_uncertain=resubmit_uncertain,
            retry_failed=retry_failed,
            stream=stream,
            on_event=on_event,
            on_progress=on_progress,
        )

    async def __aenter__(self) -> AsyncFluxFlex:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
