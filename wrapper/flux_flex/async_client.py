"""`AsyncFluxFlex`: the asyncio client (a thin driver over `flux_flex._core`)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, Unpack

import httpx

from flux_flex._core.retry import RetryPolicy
from flux_flex._core.schedule import PollSchedule
from flux_flex.completion import CompletionSource
from flux_flex.models import AsyncJob, AsyncResult, ProgressCallback, TaskSnapshot
from flux_flex.params import ImageInput, OutputFormatName, SubmitParams

__all__ = ["AsyncFluxFlex"]


class AsyncFluxFlex:
    """Client for FLUX.2 [FLEX]: submit, wait, download.

    ``api_key`` defaults to ``$BFL_API_KEY``; ``base_url`` to ``$BFL_BASE_URL``, else the
    host of ``region`` (``"global"``, ``"eu"``, ``"us"``), else ``https://api.bfl.ai``.
    ``timeout`` bounds every single HTTP request (seconds or an ``httpx.Timeout``);
    ``max_retries`` / ``retry`` set the retry budget; ``poll_schedule`` spaces the polls.
    Pass ``http_client`` to use your own ``httpx.AsyncClient`` (it is not closed by us).
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
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        raise NotImplementedError

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
    ) -> AsyncJob:
        """Submit a task (billed) and return its `Job` at once.

        Arguments left at None are not sent (the API applies its defaults); width/height 0
        also mean "model chooses". Input is checked against the spec first: bad input raises
        `RequestValidationError` before any request is sent.
        """
        raise NotImplementedError

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
        raise NotImplementedError

    async def generate(
        self,
        prompt: str,
        *,
        save_to: str | os.PathLike[str] | None = None,
        timeout: float = 300.0,
        on_progress: ProgressCallback | None = None,
        webhook: CompletionSource | None = None,
        **params: Unpack[SubmitParams],
    ) -> AsyncResult:
        """Submit, wait, and (with ``save_to``) download: the one-call way to an image.

        With ``save_to``, the returned result's ``path`` is the file written (its extension
        follows the image's real format).
        """
        raise NotImplementedError

    def job(self, task_id: str, polling_url: str | None = None) -> AsyncJob:
        """A `Job` for a task submitted earlier (e.g. after a `WaitTimeoutError`)."""
        raise NotImplementedError

    async def get_result(
        self, task_id: str | AsyncJob, polling_url: str | None = None
    ) -> TaskSnapshot:
        """One poll of a task, no waiting. Final statuses are returned, not raised."""
        raise NotImplementedError

    async def download(self, result: AsyncResult, path: str | os.PathLike[str]) -> str:
        """Download ``result``'s image to ``path`` (see `Result.save`)."""
        raise NotImplementedError

    async def download_bytes(self, result: AsyncResult) -> bytes:
        """Download ``result``'s image into memory."""
        raise NotImplementedError

    async def close(self) -> None:
        """Close the HTTP connections (not those of a client you passed in)."""
        raise NotImplementedError

    async def generate_many(
        self,
        requests: Iterable[str | Mapping[str, Any]],
        *,
        concurrency: int = 24,
        timeout: float = 300.0,
        on_result: Callable[[int, AsyncResult | BaseException], object] | None = None,
    ) -> list[AsyncResult | BaseException]:
        """Generate many images with at most ``concurrency`` tasks in flight.

        Each request is a prompt or a dict of `generate` keyword arguments (``save_to``
        included). Returns one outcome per request, in order: the `AsyncResult`, or the
        exception that item ended with. One failure never cancels the others; 429s are
        retried within the retry budget. ``on_result(index, outcome)`` is called as each
        item finishes (in completion order).
        """
        raise NotImplementedError

    async def __aenter__(self) -> AsyncFluxFlex:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
