"""`FluxFlex`: the synchronous client (a thin driver over `flux_flex._core`)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from types import TracebackType
from typing import Unpack

import httpx

from flux_flex._core.retry import RetryPolicy
from flux_flex._core.schedule import PollSchedule
from flux_flex.completion import CompletionSource
from flux_flex.models import Job, ProgressCallback, Result, TaskSnapshot
from flux_flex.params import ImageInput, OutputFormatName, SubmitParams

__all__ = ["FluxFlex"]


class FluxFlex:
    """Client for FLUX.2 [FLEX]: submit, wait, download.

    ``api_key`` defaults to ``$BFL_API_KEY``; ``base_url`` to ``$BFL_BASE_URL``, else the
    host of ``region`` (``"global"``, ``"eu"``, ``"us"``), else ``https://api.bfl.ai``.
    ``timeout`` bounds every single HTTP request (seconds or an ``httpx.Timeout``);
    ``max_retries`` / ``retry`` set the retry budget; ``poll_schedule`` spaces the polls.
    Pass ``http_client`` to use your own ``httpx.Client`` (it is not closed by us).
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
        http_client: httpx.Client | None = None,
    ) -> None:
        raise NotImplementedError

    def submit(
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
    ) -> Job:
        """Submit a task (billed) and return its `Job` at once.

        Arguments left at None are not sent (the API applies its defaults); width/height 0
        also mean "model chooses". Input is checked against the spec first: bad input raises
        `RequestValidationError` before any request is sent.
        """
        raise NotImplementedError

    def wait(
        self,
        job: Job | str,
        *,
        timeout: float = 300.0,
        on_progress: ProgressCallback | None = None,
        webhook: CompletionSource | None = None,
        webhook_grace: float | None = None,
    ) -> Result:
        """Wait for ``job`` to be ready and return its `Result`.

        Polls the job's ``polling_url`` on the client's schedule; with ``webhook`` (a
        `CompletionSource`), completes as soon as the delivery for this task arrives and
        polls only after ``webhook_grace`` seconds as the fallback. Raises
        `ModerationError`, `TaskFailedError`, `TaskNotFoundError` at once, and
        `WaitTimeoutError` (with the task id, to resume with `job`) after ``timeout``.
        """
        raise NotImplementedError

    def generate(
        self,
        prompt: str,
        *,
        save_to: str | os.PathLike[str] | None = None,
        timeout: float = 300.0,
        on_progress: ProgressCallback | None = None,
        webhook: CompletionSource | None = None,
        **params: Unpack[SubmitParams],
    ) -> Result:
        """Submit, wait, and (with ``save_to``) download: the one-call way to an image.

        With ``save_to``, the returned result's ``path`` is the file written (its extension
        follows the image's real format).
        """
        raise NotImplementedError

    def job(self, task_id: str, polling_url: str | None = None) -> Job:
        """A `Job` for a task submitted earlier (e.g. after a `WaitTimeoutError`)."""
        raise NotImplementedError

    def get_result(self, task_id: str | Job, polling_url: str | None = None) -> TaskSnapshot:
        """One poll of a task, no waiting. Final statuses are returned, not raised."""
        raise NotImplementedError

    def download(self, result: Result, path: str | os.PathLike[str]) -> str:
        """Download ``result``'s image to ``path`` (see `Result.save`)."""
        raise NotImplementedError

    def download_bytes(self, result: Result) -> bytes:
        """Download ``result``'s image into memory."""
        raise NotImplementedError

    def close(self) -> None:
        """Close the HTTP connections (not those of a client you passed in)."""
        raise NotImplementedError

    def __enter__(self) -> FluxFlex:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
